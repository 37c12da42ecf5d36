import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Errors } from '../../src/errors.js';
import { JobState } from '../../src/gen/offload/v1/compute.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { startServer } from '../helpers/start-server.js';

let server: ComputeServer;
let client: ComputeClient;
let close: () => void;

beforeAll(async () => {
  server = await startServer(['--workers', '2']);
  ({ client, close } = connect(server.address));
});

afterAll(async () => {
  close();
  await server.close();
});

describe('jobs that outlive their call', () => {
  it('submits a job, re-attaches a watch after dropping one, and reads its outcome', async () => {
    const { job, created } = await client.submit({ task: 'spin', input: { ms: 600, steps: 6 }, jobId: 'reattach-1' });
    expect(created).toBe(true);
    expect(job?.id).toBe('reattach-1');
    // A first watcher leaves after the first progress: the job goes on.
    for await (const event of client.watch({ jobId: 'reattach-1' })) {
      if (event.progress) break;
    }
    const events = await collect(client.watch({ jobId: 'reattach-1' }));
    expect(events.at(-1)?.result?.output).toMatchObject({ ms: 600 });
    const { job: ended } = await client.getJob({ jobId: 'reattach-1' });
    expect(ended?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('answers a repeated submit with the same job, and a different request under the same id with ALREADY_EXISTS', async () => {
    await client.submit({ task: 'echo', input: 1, jobId: 'same-1' });
    const again = await client.submit({ task: 'echo', input: 1, jobId: 'same-1' });
    expect(again.created).toBe(false);
    const other = await rejection(client.submit({ task: 'echo', input: 2, jobId: 'same-1' }));
    expect(other).toMatchObject({ code: Errors.jobExists('same-1').code, details: Errors.jobExists('same-1').message });
  });

  it('cancels a job with CancelJob, and answers NOT_FOUND for an unknown id', async () => {
    await client.submit({ task: 'spin', input: { ms: 5000, steps: 50 }, jobId: 'cancel-1' });
    await client.cancelJob({ jobId: 'cancel-1' });
    const events = await collect(client.watch({ jobId: 'cancel-1' }));
    expect(events.at(-1)?.failure?.code).toBe(Errors.callCancelled.code);
    expect(await rejection(client.getJob({ jobId: 'nope' }))).toMatchObject({ code: Errors.unknownJob('nope').code });
  });
});
