/**
 * `offload submit TASK [--input JSON|@file.json] [--data-file F] [--job-id ID] [--json]`
 *
 * Submits a job and prints its id on stdout (for `id=$(offload submit ...)`),
 * and on stderr whether it was created and how to follow it. Submitting the
 * same --job-id and request again is safe: it names the same job.
 */
import { createComputeClient } from '../client/create-compute-client.js';
import { CliError } from './cli-error.js';
import { CLIENT_USAGE, clientTarget, priorityFlag, parseCommandArgs, stringFlag } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';
import { checkJobId } from './job-args.js';
import { parseInput, readBytes } from './read-input.js';

export const SUBMIT_USAGE = `Usage: offload submit TASK [--input JSON|@file.json] [--data-file FILE] [--job-id ID] [--no-cache] [--priority low|normal|high] [--json]

Submits a job that goes on without this command; prints its id.

  --input JSON       the task's input, inline or @path to a JSON file
  --data-file FILE   send FILE's bytes as the request data
  --job-id ID        the job's id (default: a random UUID); the same id and
                     request again name the same job, so a retry is safe
  --no-cache         compute afresh, even for a cacheable task
  --priority P       low, normal (the default) or high: which queued runs start first
  --json             print {"id":"...","created":true}

Then: offload watch ID, offload job ID, offload cancel ID.

${CLIENT_USAGE}
`;

export async function submitCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { input: { type: 'string' }, 'data-file': { type: 'string' }, 'job-id': { type: 'string' }, 'no-cache': { type: 'boolean' }, priority: { type: 'string' }, json: { type: 'boolean' } },
    'offload submit',
  );
  if (values['help']) {
    process.stdout.write(SUBMIT_USAGE);
    return 0;
  }
  const task = positionals[0];
  if (!task || positionals.length > 1) throw new CliError('offload submit takes one task name; see offload submit --help');
  const [inputText, dataFile, jobIdText] = ['input', 'data-file', 'job-id'].map((name) => stringFlag(values, name));
  const input = inputText === undefined ? undefined : parseInput(inputText);
  const data = dataFile === undefined ? undefined : readBytes(dataFile);
  const jobId = jobIdText === undefined ? undefined : checkJobId(jobIdText, '--job-id');
  const { address, options } = clientTarget(values);
  const priority = priorityFlag(values);

  const client = createComputeClient(address, options);
  try {
    const job = await client.submit(task, input, { ...(data ? { data } : {}), ...(jobId ? { jobId } : {}), noCache: values['no-cache'] === true, priority, deadline: 10_000 });
    if (values['json']) {
      process.stdout.write(`${JSON.stringify({ id: job.id, created: job.created })}\n`);
    } else {
      process.stdout.write(`${job.id}\n`);
      const what = job.created ? `submitted job ${job.id} (${task})` : `job ${job.id} was already submitted with this request`;
      process.stderr.write(`${what}; follow it with: offload watch ${job.id}\n`);
    }
    return 0;
  } catch (error) {
    throw explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage: `no answer from ${address} within 10 s` });
  } finally {
    client.close();
  }
}
