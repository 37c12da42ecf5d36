/**
 * `offload watch ID [--out FILE] [--deadline 30s] [--json]`
 *
 * Follows a job as `run` follows a task, re-attaching by itself when the
 * connection drops. Ctrl-C detaches: the job goes on, and the command says
 * how to come back to it.
 */
import { createComputeClient } from '../client/create-compute-client.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs, parseDuration, stringFlag } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';
import { jobIdArgument } from './job-args.js';
import { createEventPrinter } from './print-events.js';
import { catchInterrupt, INTERRUPTED } from './catch-interrupt.js';

export const WATCH_USAGE = `Usage: offload watch ID [--out FILE] [--deadline 30s] [--json]

Follows a job to its end: a live progress bar, then the output (exit 0), or
its failure (exit 1). Ctrl-C stops watching and leaves the job running (exit 130).

  --out FILE         write the result's bytes to FILE
  --deadline D       stop watching after D (500ms, 30s, 2m); the job goes on
  --json             one JSON event per line, even on a terminal

${CLIENT_USAGE}
`;

export async function watchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { out: { type: 'string' }, deadline: { type: 'string' }, json: { type: 'boolean' } }, 'offload watch');
  if (values['help']) {
    process.stdout.write(WATCH_USAGE);
    return 0;
  }
  const id = jobIdArgument(positionals, 'offload watch');
  const [out, deadlineText] = ['out', 'deadline'].map((name) => stringFlag(values, name));
  const deadline = deadlineText === undefined ? undefined : parseDuration(deadlineText, '--deadline');
  const { address, options } = clientTarget(values);
  const jsonLines = values['json'] === true || !process.stdout.isTTY;

  const client = createComputeClient(address, options);
  const interrupt = catchInterrupt();
  let printer: ReturnType<typeof createEventPrinter> | undefined;
  try {
    const job = client.job(id);
    const callOptions = { signal: interrupt.signal, ...(deadline !== undefined ? { deadline } : {}) };
    // The bar is labelled with the task's name, which only GetJob tells.
    const label = jsonLines ? id : (await job.get(callOptions)).task;
    printer = createEventPrinter({ label, jsonLines, out });
    for await (const event of job.watch(callOptions)) printer.print(event);
    return 0;
  } catch (error) {
    printer?.stop();
    if (interrupt.interrupted) {
      process.stderr.write(`offload: detached; job ${id} goes on. Re-attach with: offload watch ${id}\n`);
      return INTERRUPTED;
    }
    const timeoutMessage =
      deadlineText === undefined ? `no result from ${address} in time` : `stopped watching job ${id} after ${deadlineText} (--deadline); it goes on: offload watch ${id}`;
    throw explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage });
  } finally {
    interrupt.dispose();
    client.close();
  }
}
