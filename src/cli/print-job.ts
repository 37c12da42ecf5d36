/** A job as `offload job` and `offload cancel` print it: aligned lines, or one JSON object. */
import type { JobInfo } from '../client/job-events.js';
import { Status } from '../errors.js';

export function jobToJson(job: JobInfo): Record<string, unknown> {
  const { result, failure, createdAt, ...rest } = job;
  return {
    ...rest,
    ...(result
      ? {
          result: {
            output: result.output,
            dataBytes: result.data.byteLength,
            ...(result.data.byteLength > 0 ? { data: Buffer.from(result.data).toString('base64') } : {}),
            queuedMs: result.queuedMs,
            runMs: result.runMs,
            cached: result.cached,
          },
        }
      : {}),
    ...(failure ? { failure: { status: Status[failure.code], code: failure.code, message: failure.message } } : {}),
    createdAt: createdAt.toISOString(),
  };
}

export function describeJob(job: JobInfo): string {
  const rows: [string, string][] = [
    ['job', job.id],
    ['task', job.task],
    ['state', job.state],
    ['created', job.createdAt.toISOString()],
  ];
  if (job.progress) rows.push(['progress', `${Math.floor(job.progress.fraction * 100)}%${job.progress.message ? `  ${job.progress.message}` : ''}`]);
  if (job.result) {
    rows.push(['output', JSON.stringify(job.result.output)]);
    if (job.result.data.byteLength > 0) rows.push(['data', `${job.result.data.byteLength} bytes (offload watch --out FILE keeps them)`]);
    rows.push(['took', `${job.result.runMs.toFixed(1)} ms (queued ${job.result.queuedMs.toFixed(1)} ms)${job.result.cached ? ' (cached)' : ''}`]);
  }
  if (job.failure) rows.push(['failure', `${Status[job.failure.code]}: ${job.failure.message}`]);
  return rows.map(([key, value]) => `${key.padEnd(9)}${value}\n`).join('');
}
