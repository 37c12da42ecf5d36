/** `offload job ID [--json]` and `offload cancel ID [--json]`: a job read, or asked to stop, and printed. */
import { createComputeClient } from '../client/create-compute-client.js';
import type { JobInfo } from '../client/job-events.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';
import { jobIdArgument } from './job-args.js';
import { describeJob, jobToJson } from './print-job.js';

export const JOB_USAGE = `Usage: offload job ID [--json]

Shows a job: its task, state, latest progress, and its result or failure.

  --json             print the job as one JSON object

${CLIENT_USAGE}
`;

export const CANCEL_USAGE = `Usage: offload cancel ID [--json]

Stops a job, as Ctrl-C stops \`offload run\`; a job that has ended is left as it is.

  --json             print the job, as it is after asking, as one JSON object

${CLIENT_USAGE}
`;

export const jobCommand = (argv: string[]): Promise<number> => readJob(argv, 'job');
export const cancelCommand = (argv: string[]): Promise<number> => readJob(argv, 'cancel');

async function readJob(argv: string[], command: 'job' | 'cancel'): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } }, `offload ${command}`);
  if (values['help']) {
    process.stdout.write(command === 'job' ? JOB_USAGE : CANCEL_USAGE);
    return 0;
  }
  const id = jobIdArgument(positionals, `offload ${command}`);
  const { address, options } = clientTarget(values);
  const client = createComputeClient(address, options);
  try {
    const handle = client.job(id);
    const job = command === 'job' ? await handle.get({ deadline: 10_000 }) : await handle.cancel({ deadline: 10_000 });
    if (values['json']) process.stdout.write(`${JSON.stringify(jobToJson(job))}\n`);
    else process.stdout.write(command === 'job' ? describeJob(job) : `${describeCancel(job)}\n`);
    return 0;
  } catch (error) {
    throw explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage: `no answer from ${address} within 10 s` });
  } finally {
    client.close();
  }
}

/** A running job stops when its worker lets go of it, so CancelJob may answer before the job is cancelled. */
function describeCancel(job: JobInfo): string {
  if (job.state === 'cancelled') return `job ${job.id} cancelled`;
  if (job.state === 'queued' || job.state === 'running') return `job ${job.id} is stopping (it was ${job.state}); offload job ${job.id} shows when it has`;
  return `job ${job.id} had already ended (${job.state}); nothing to cancel`;
}
