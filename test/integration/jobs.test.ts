import { describe, expect, it } from 'vitest';
import { Errors, Status } from '../../src/errors.js';
import { JobState, type WatchResponse } from '../../src/gen/offload/v1/compute.js';
import { collect, rejection } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { useServerPerTest, useSharedServer } from '../helpers/use-server.js';

const fractions = (events: WatchResponse[]): number[] => events.filter((e) => e.progress).map((e) => e.progress!.fraction);

describe('jobs that outlive their call', () => {
  const shared = useSharedServer(['--workers', '2']);

  it('submits a job, re-attaches a watch after dropping one, and receives the remaining progress and the result', async () => {
    const { client } = shared;
    const { job, created } = await client.submit({ task: 'spin', input: { ms: 600, steps: 6 }, jobId: 'reattach-1' });
    expect(created).toBe(true);
    expect(job?.id).toBe('reattach-1');
    // A first watcher leaves after the first progress: the job goes on.
    let seen = 0;
    for await (const event of client.watch({ jobId: 'reattach-1' })) {
      if (event.progress) {
        seen = event.progress.fraction;
        break;
      }
    }
    const events = await collect(client.watch({ jobId: 'reattach-1' }));
    // Started and the latest progress first, then what was left of the run.
    expect(events[0]?.started).toBeDefined();
    expect(fractions(events).length).toBeGreaterThan(1);
    expect(Math.min(...fractions(events))).toBeGreaterThanOrEqual(seen);
    expect(events.at(-1)?.result?.output).toMatchObject({ ms: 600 });
    const { job: ended } = await client.getJob({ jobId: 'reattach-1' });
    expect(ended).toMatchObject({ state: JobState.JOB_STATE_SUCCEEDED, result: { output: { ms: 600 } } });
  });

  it('gives two watchers the same outcome, and a watcher of an ended job its outcome at once', async () => {
    const { client } = shared;
    await client.submit({ task: 'spin', input: { ms: 300, steps: 3 }, jobId: 'two-watchers' });
    const [a, b] = await Promise.all([collect(client.watch({ jobId: 'two-watchers' })), collect(client.watch({ jobId: 'two-watchers' }))]);
    expect(a.at(-1)?.result).toEqual(b.at(-1)?.result);
    const late = await collect(client.watch({ jobId: 'two-watchers' }));
    expect(late.map((e) => Object.keys(e).find((k) => e[k as keyof WatchResponse] !== undefined))).toEqual(['started', 'progress', 'result']);
    expect(late.at(-1)?.result).toEqual(a.at(-1)?.result);
  });

  it('answers a repeated submit with the same job, and a different request under the same id with ALREADY_EXISTS', async () => {
    const { client } = shared;
    await client.submit({ task: 'echo', input: 1, jobId: 'same-1' });
    const again = await client.submit({ task: 'echo', input: 1, jobId: 'same-1' });
    expect(again.created).toBe(false);
    const other = await rejection(client.submit({ task: 'echo', input: 2, jobId: 'same-1' }));
    expect(other).toMatchObject({ code: Errors.jobExists('same-1').code, details: Errors.jobExists('same-1').message });
    const otherData = await rejection(client.submit({ task: 'echo', input: 1, data: Buffer.from('x'), jobId: 'same-1' }));
    expect(otherData.code).toBe(Status.ALREADY_EXISTS);
  });

  it('creates one job when two identical submits with one id race, even with data large enough to be hashed off the event loop', async () => {
    const { client } = shared;
    const data = Buffer.alloc(1 << 20, 7);
    const answers = await Promise.all([1, 2, 3].map(() => client.submit({ task: 'echo', input: 'race', data, jobId: 'race-1' })));
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    const events = await collect(client.watch({ jobId: 'race-1' }));
    expect(Buffer.from(events.at(-1)!.result!.data).equals(data)).toBe(true);
  });

  it('reports a failed job as a failure event with its code, not as a failed stream', async () => {
    const { client } = shared;
    await client.submit({ task: 'fixture.throws', input: { message: 'kaput' }, jobId: 'fails-1' });
    const events = await collect(client.watch({ jobId: 'fails-1' }));
    expect(events.at(-1)?.failure).toEqual({ code: Status.INTERNAL, message: 'task fixture.throws failed: kaput' });
    const { job } = await client.getJob({ jobId: 'fails-1' });
    expect(job).toMatchObject({ state: JobState.JOB_STATE_FAILED, failure: { code: Status.INTERNAL } });
  });

  it('cancels a job with CancelJob, and answers NOT_FOUND for an unknown id', async () => {
    const { client } = shared;
    await client.submit({ task: 'spin', input: { ms: 5000, steps: 50 }, jobId: 'cancel-1' });
    await client.cancelJob({ jobId: 'cancel-1' });
    const events = await collect(client.watch({ jobId: 'cancel-1' }));
    expect(events.at(-1)?.failure?.code).toBe(Errors.callCancelled.code);
    const { job } = await client.cancelJob({ jobId: 'cancel-1' });
    expect(job?.state).toBe(JobState.JOB_STATE_CANCELLED);
    for (const call of [client.getJob({ jobId: 'nope' }), client.cancelJob({ jobId: 'nope' }), collect(client.watch({ jobId: 'nope' }))]) {
      expect(await rejection(call)).toMatchObject({ code: Status.NOT_FOUND, details: Errors.unknownJob('nope').message });
    }
  });

  it('refuses a job id that is too long or has characters outside [A-Za-z0-9._~-], naming job_id', async () => {
    const { client } = shared;
    for (const jobId of ['x'.repeat(129), 'a b', 'ü']) {
      expect(await rejection(client.submit({ task: 'echo', jobId }))).toMatchObject({ code: Status.INVALID_ARGUMENT, details: Errors.invalidJobId.message });
    }
    expect(Errors.invalidJobId.message).toContain('job_id');
  });
});

describe('jobs and the server around them', () => {
  const current = useServerPerTest();

  it('keeps a silent job watch talking with heartbeats', async () => {
    await current.start(['--heartbeat-ms', '100']);
    const { client } = current;
    await client.submit({ task: 'fixture.wait', input: { ms: 1000 }, jobId: 'quiet' });
    const events = await collect(client.watch({ jobId: 'quiet' }));
    // The task itself reports once (halfway); everything else is a heartbeat.
    expect(fractions(events).length).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)?.result?.output).toEqual({ ms: 1000 });
  });

  it('forgets the oldest ended jobs first past --max-jobs, never one still running', async () => {
    await current.start(['--max-jobs', '2', '--workers', '2']);
    const { client } = current;
    await client.submit({ task: 'fixture.wait', input: { ms: 5000 }, jobId: 'long' });
    for (const id of ['a', 'b', 'c']) {
      await client.submit({ task: 'echo', input: id, jobId: id });
      await collect(client.watch({ jobId: id }));
    }
    // Three ended jobs and one running against a limit of two: the running one and the newest ended stay.
    for (const id of ['a', 'b']) expect((await rejection(client.getJob({ jobId: id }))).code).toBe(Status.NOT_FOUND);
    expect((await client.getJob({ jobId: 'long' })).job?.state).toBe(JobState.JOB_STATE_RUNNING);
    expect((await client.getJob({ jobId: 'c' })).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('forgets an ended job after --job-retention-ms, and then a submit under its id starts afresh', async () => {
    await current.start(['--job-retention-ms', '300']);
    const { client } = current;
    await client.submit({ task: 'echo', input: 1, jobId: 'short-lived' });
    await collect(client.watch({ jobId: 'short-lived' }));
    await eventually(async () => expect((await rejection(client.getJob({ jobId: 'short-lived' }))).code).toBe(Status.NOT_FOUND));
    expect((await rejection(collect(client.watch({ jobId: 'short-lived' })))).code).toBe(Status.NOT_FOUND);
    expect((await client.submit({ task: 'echo', input: 2, jobId: 'short-lived' })).created).toBe(true);
  });

  it('counts jobs against --max-queue like every other run', async () => {
    await current.start(['--workers', '1', '--max-queue', '1']);
    const { client } = current;
    await client.submit({ task: 'fixture.wait', input: { ms: 2000 }, jobId: 'runs' });
    await eventually(() => expect(current.server.pool.stats.running).toBe(1));
    await client.submit({ task: 'fixture.wait', input: { ms: 10 }, jobId: 'waits' });
    expect(await rejection(client.submit({ task: 'fixture.wait', input: { ms: 10 }, jobId: 'refused' }))).toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    expect((await rejection(client.getJob({ jobId: 'refused' }))).code).toBe(Status.NOT_FOUND);
  });

  it('shows jobs by state in the metrics', async () => {
    await current.start(['--metrics-port', '0']);
    const { client, server } = current;
    // Longer than the wait for the other two on a loaded machine: it must still run when they have ended. It is cancelled below.
    await client.submit({ task: 'fixture.wait', input: { ms: 60_000 }, jobId: 'running' });
    await client.submit({ task: 'echo', jobId: 'done' });
    await client.submit({ task: 'fixture.throws', input: { message: 'no' }, jobId: 'failed' });
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    await eventually(async () => {
      const text = await scrape();
      expect(text).toContain('offload_jobs{state="running"} 1');
      expect(text).toContain('offload_jobs{state="succeeded"} 1');
      expect(text).toContain('offload_jobs{state="failed"} 1');
    });
    await client.cancelJob({ jobId: 'running' });
    await eventually(async () => expect(await scrape()).toContain('offload_jobs{state="cancelled"} 1'));
  });

  it('drains with jobs running: Submit is refused, the jobs finish within the grace and their watchers still re-attach', async () => {
    await current.start(['--shutdown-grace-ms', '10000']);
    const { client, server } = current;
    await client.submit({ task: 'fixture.wait', input: { ms: 800 }, jobId: 'draining' });
    let stopped = false;
    const shutdown = server.shutdown().then(() => (stopped = true));
    await eventually(async () => expect((await rejection(client.submit({ task: 'echo', jobId: 'late' }))).details).toBe(Errors.shuttingDown.message));
    const events = await collect(client.watch({ jobId: 'draining' }));
    expect(events.at(-1)?.result?.output).toEqual({ ms: 800 });
    await shutdown;
    expect(stopped).toBe(true);
  });

  it('cancels the jobs still running when the shutdown grace runs out, with UNAVAILABLE', async () => {
    await current.start(['--shutdown-grace-ms', '200']);
    const { client, server } = current;
    await client.submit({ task: 'fixture.wait', input: { ms: 60_000 }, jobId: 'too-long' });
    const watching = collect(client.watch({ jobId: 'too-long' }));
    await eventually(() => expect(server.pool.stats.running).toBe(1));
    await server.shutdown();
    expect((await watching).at(-1)?.failure).toEqual({ code: Status.UNAVAILABLE, message: Errors.shuttingDown.message });
  });
});
