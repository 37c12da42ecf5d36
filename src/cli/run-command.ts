/**
 * `offload run TASK [--input JSON|@file.json] [--data-file F] [--out F] [--deadline 30s] [--json]`
 *
 * On a terminal: a live progress bar on stderr, then the output on stdout.
 * Otherwise, or with --json: one JSON event per line on stdout. Ctrl-C
 * cancels the task on the server and exits 130.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createComputeClient } from '../client/create-compute-client.js';
import type { Json, RunEvent } from '../client/events.js';
import { CliError } from './cli-error.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs, parseDuration, stringFlag } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';
import { createProgressBar } from './progress-bar.js';

export const RUN_USAGE = `Usage: offload run TASK [--input JSON|@file.json] [--data-file FILE] [--out FILE] [--deadline 30s] [--json]

  --input JSON       the task's input, inline or @path to a JSON file
  --data-file FILE   send FILE's bytes as the request data
  --out FILE         write the result's bytes to FILE
  --deadline D       give up after D (500ms, 30s, 2m)
  --json             one JSON event per line, even on a terminal

${CLIENT_USAGE}
`;

export const INTERRUPTED = 130;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { input: { type: 'string' }, 'data-file': { type: 'string' }, out: { type: 'string' }, deadline: { type: 'string' }, json: { type: 'boolean' } },
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

  const client = createComputeClient(address, options);
  const controller = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const bar = jsonLines ? undefined : createProgressBar(process.stderr, task);
  try {
    const events = client.runStream(task, input, { ...(data ? { data } : {}), signal: controller.signal, ...(deadline !== undefined ? { deadline } : {}) });
    for await (const event of events) {
      if (event.type === 'result' && out !== undefined) writeFileSync(out, event.data);
      if (jsonLines) process.stdout.write(`${JSON.stringify(toJsonEvent(event, out !== undefined))}\n`);
      else if (event.type === 'started') bar!.update(0, 'started');
      else if (event.type === 'progress') bar!.update(event.fraction, event.message);
      else {
        bar!.done();
        process.stdout.write(`${JSON.stringify(event.output, null, 2)}\n`);
        const bytes = event.data.byteLength > 0 && values.out === undefined ? `, ${event.data.byteLength} bytes of data (use --out to keep them)` : '';
        process.stderr.write(`done in ${event.runMs.toFixed(1)} ms (queued ${event.queuedMs.toFixed(1)} ms)${bytes}\n`);
      }
    }
    return 0;
  } catch (error) {
    bar?.done();
    if (interrupted) {
      process.stderr.write('offload: cancelled\n');
      return INTERRUPTED;
    }
    const timeoutMessage = deadlineText === undefined ? `no result from ${address} in time` : `no result from ${address} within ${deadlineText} (--deadline)`;
    throw pointAtTasksCommand(explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage }));
  } finally {
    process.off('SIGINT', onSigint);
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

function toJsonEvent(event: RunEvent, dataWritten: boolean): Record<string, unknown> {
  if (event.type !== 'result') return event;
  const { data, ...rest } = event;
  return { ...rest, dataBytes: data.byteLength, ...(data.byteLength > 0 && !dataWritten ? { data: Buffer.from(data).toString('base64') } : {}) };
}

function parseInput(text: string): Json {
  const source = text.startsWith('@') ? readBytes(text.slice(1)).toString('utf8') : text;
  try {
    return JSON.parse(source) as Json;
  } catch (error) {
    throw new CliError(`--input is not valid JSON: ${(error as Error).message}`);
  }
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
