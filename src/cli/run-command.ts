/**
 * `offload run TASK [--input JSON|@file.json] [--data-file F] [--out F] [--deadline 30s] [--no-cache] [--priority low|normal|high] [--json]`
 *
 * On a terminal: a live progress bar on stderr, then the output on stdout.
 * Otherwise, or with --json: one JSON event per line on stdout. Ctrl-C
 * cancels the task on the server and exits 130.
 */
import { createComputeClient } from '../client/create-compute-client.js';
import { catchInterrupt, INTERRUPTED } from './catch-interrupt.js';
import { CliError } from './cli-error.js';
import { CLIENT_USAGE, clientTarget, priorityFlag, parseCommandArgs, parseDuration, stringFlag } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';
import { createEventPrinter } from './print-events.js';
import { parseInput, readBytes } from './read-input.js';

export const RUN_USAGE = `Usage: offload run TASK [--input JSON|@file.json] [--data-file FILE] [--out FILE] [--deadline 30s] [--no-cache] [--priority low|normal|high] [--json]

  --input JSON       the task's input, inline or @path to a JSON file
  --data-file FILE   send FILE's bytes as the request data
  --out FILE         write the result's bytes to FILE
  --deadline D       give up after D (500ms, 30s, 2m)
  --no-cache         compute afresh, even for a cacheable task
  --priority P       low, normal (the default) or high: which queued runs start first
  --json             one JSON event per line, even on a terminal

${CLIENT_USAGE}
`;


export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { input: { type: 'string' }, 'data-file': { type: 'string' }, out: { type: 'string' }, deadline: { type: 'string' }, 'no-cache': { type: 'boolean' }, priority: { type: 'string' }, json: { type: 'boolean' } },
    'offload run',
  );
  if (values['help']) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const task = positionals[0];
  if (!task || positionals.length > 1) throw new CliError(`offload run takes one task name\n\n${RUN_USAGE}`);
  const [inputText, dataFile, out, deadlineText] = ['input', 'data-file', 'out', 'deadline'].map((name) => stringFlag(values, name));
  const input = inputText === undefined ? undefined : parseInput(inputText);
  const data = dataFile === undefined ? undefined : readBytes(dataFile);
  const deadline = deadlineText === undefined ? undefined : parseDuration(deadlineText, '--deadline');
  const { address, options } = clientTarget(values);
  const jsonLines = values['json'] === true || !process.stdout.isTTY;
  const priority = priorityFlag(values);

  const client = createComputeClient(address, options);
  const interrupt = catchInterrupt();
  const printer = createEventPrinter({ label: task, jsonLines, out });
  try {
    const events = client.runStream(task, input, { ...(data ? { data } : {}), signal: interrupt.signal, noCache: values['no-cache'] === true, priority, ...(deadline !== undefined ? { deadline } : {}) });
    for await (const event of events) printer.print(event);
    return 0;
  } catch (error) {
    printer.stop();
    if (interrupt.interrupted) {
      process.stderr.write('offload: cancelled\n');
      return INTERRUPTED;
    }
    const timeoutMessage = deadlineText === undefined ? `no result from ${address} in time` : `no result from ${address} within ${deadlineText} (--deadline)`;
    throw pointAtTasksCommand(explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage }));
  } finally {
    interrupt.dispose();
    client.close();
  }
}

/**
 * The server's NOT_FOUND for an unknown task points gRPC users at ListTasks;
 * someone at a terminal lists tasks with `offload tasks`. The server's
 * message stays as it is: other clients rely on it.
 */
function pointAtTasksCommand(error: unknown): unknown {
  if (!(error instanceof CliError) || !error.message.startsWith('NOT_FOUND: unknown task')) return error;
  const stem = error.message.replace(/; ListTasks shows the tasks this server runs$/, '');
  return new CliError(`${stem}; \`offload tasks\` lists the tasks this server runs`, error.exitCode);
}
