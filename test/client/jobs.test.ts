import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffloadError, Status, type RunEvent } from '../../src/index.js';
import { Errors } from '../../src/errors.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { eventually } from '../helpers/eventually.js';
import { closedAfterEach, offloadFailure } from '../helpers/closed-after-each.js';
import { startServer } from '../helpers/start-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let shared: ComputeServer;
beforeAll(async () => {
  shared = await startServer(['--workers', '2']);
});
afterAll(async () => shared.close());

const { client, track } = closedAfterEach();
const proxy = async (port: number): Promise<TcpProxy> => track(await startTcpProxy(port));
const failure = offloadFailure;
/** Every event of a watch, and what it threw at the end, if anything. */
async function watchAll(events: AsyncIterable<RunEvent>): Promise<{ events: RunEvent[]; thrown: unknown }> {
  const seen: RunEvent[] = [];
  try {
    for await (const event of events) seen.push(event);
    return { events: seen, thrown: undefined };
  } catch (thrown) {
    return { events: seen, thrown };
  }
}
const fractions = (events: RunEvent[]): number[] => events.flatMap((e) => (e.type === 'progress' ? [e.fraction] : []));

describe('jobs from the TypeScript client', () => {
  it('submits a job under an id of its own choosing, watches it to its result and reads it back', async () => {
    const c = client(shared.address);
    const job = await c.submit('spin', { ms: 200, steps: 4 });
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(job.created).toBe(true);
    const { events, thrown } = await watchAll(job.watch());
    expect(thrown).toBeUndefined();
    expect(events[0]).toMatchObject({ type: 'started' });
    expect(fractions(events)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 200 } });
    const info = await job.get();
    expect(info).toMatchObject({ id: job.id, task: 'spin', state: 'succeeded', progress: { fraction: 1 }, result: { output: { ms: 200 } } });
    expect(info.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(info.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('returns the result of a job, with its bytes, from result()', async () => {
    const c = client(shared.address);
    const job = await c.submit<{ a: number }>('echo', { a: 1 }, { data: new Uint8Array([7, 8]), jobId: 'result-bytes-1' });
    const result = await job.result();
    expect(result.output.a).toBe(1);
    expect([...result.data]).toEqual([7, 8]);
  });

  it('rejects result() with the job failure, and ends watch() by throwing it after the events before it', async () => {
    const c = client(shared.address);
    const job = await c.submit('fixture.task-error', { code: 'FAILED_PRECONDITION', message: 'the input is stale' });
    expect(await failure(job.result())).toMatchObject({ code: Status.FAILED_PRECONDITION, message: expect.stringContaining('the input is stale') as unknown });
    const { events, thrown } = await watchAll(c.job(job.id).watch());
    expect(events.some((e) => e.type === 'result')).toBe(false);
    expect(thrown).toBeInstanceOf(OffloadError);
    expect(thrown).toMatchObject({ code: Status.FAILED_PRECONDITION });
    expect(await job.get()).toMatchObject({ state: 'failed', failure: { code: Status.FAILED_PRECONDITION } });
  });

  it('re-attaches to a job by id from another client, with no call until the handle is used', async () => {
    const job = await client(shared.address).submit('spin', { ms: 300, steps: 3 }, { jobId: 'reattach-by-id-1' });
    const unused = client('127.0.0.1:1').job('reattach-by-id-1');
    expect(unused.id).toBe('reattach-by-id-1');
    const again = client(shared.address).job<{ ms: number }>(job.id);
    expect((await again.result()).output).toEqual({ ms: 300 });
  });

  it('answers a repeated submit with the same job (created false), and a different request under the id with ALREADY_EXISTS', async () => {
    const c = client(shared.address);
    const first = await c.submit('echo', { n: 1 }, { jobId: 'idempotent-1' });
    const again = await c.submit('echo', { n: 1 }, { jobId: 'idempotent-1' });
    expect([first.created, again.created]).toEqual([true, false]);
    expect((await again.result()).output).toEqual({ n: 1 });
    const other = await failure(c.submit('echo', { n: 2 }, { jobId: 'idempotent-1' }));
    expect(other).toMatchObject({ code: Status.ALREADY_EXISTS, message: Errors.jobExists('idempotent-1').message });
  });

  it('refuses an invalid job id before any call, with the server\'s own message', async () => {
    const c = client('127.0.0.1:1');
    await expect(c.submit('echo', 1, { jobId: 'not a valid id' })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: Errors.invalidJobId.message });
    expect(() => c.job('')).toThrow(Errors.invalidJobId);
  });

  it('cancels a job: its watchers get CANCELLED and it ends cancelled', async () => {
    const c = client(shared.address);
    const job = await c.submit('fixture.wait', { ms: 30_000 });
    const watching = watchAll(job.watch());
    await eventually(async () => expect((await job.get()).state).toBe('running'));
    const asked = await job.cancel();
    expect(asked.id).toBe(job.id);
    const { thrown } = await watching;
    expect(thrown).toMatchObject({ code: Status.CANCELLED });
    await eventually(async () => expect(await job.get()).toMatchObject({ state: 'cancelled', failure: { code: Status.CANCELLED } }));
  });

  it('answers NOT_FOUND for a job that never was, with the server\'s message', async () => {
    const c = client(shared.address);
    expect(await failure(c.job('never-was-1').result())).toMatchObject({ code: Status.NOT_FOUND, message: Errors.unknownJob('never-was-1').message });
    expect(await failure(c.job('never-was-1').get())).toMatchObject({ code: Status.NOT_FOUND });
  });

  it('leaves the job running when a watcher breaks out of its watch', async () => {
    const c = client(shared.address);
    const job = await c.submit('spin', { ms: 600, steps: 6 });
    for await (const event of job.watch()) if (event.type === 'progress') break;
    expect((await job.result()).output).toEqual({ ms: 600 });
  });

  it('ends a watch at its deadline without cancelling the job', async () => {
    const c = client(shared.address);
    const job = await c.submit('fixture.wait', { ms: 800 });
    expect(await failure(job.result({ deadline: 100 }))).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    expect((await job.result()).output).toEqual({ ms: 800 });
  });
});

describe('a watch whose stream drops', () => {
  it('re-attaches by itself, yielding started once and every later event up to the result', async () => {
    const p = await proxy(shared.port);
    const c = client(p.address, { retry: { baseDelayMs: 20 } });
    const job = await c.submit('spin', { ms: 1500, steps: 10 });
    const events: RunEvent[] = [];
    for await (const event of job.watch()) {
      events.push(event);
      // Cut the connection under the watch, mid-run.
      if (event.type === 'progress' && events.filter((e) => e.type === 'progress').length === 1) p.drop();
    }
    expect(p.connections).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.type === 'started')).toHaveLength(1);
    const seen = fractions(events);
    expect(seen.at(-1)).toBe(1);
    // Nothing repeated: each progress is news (the replayed latest one is not).
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 1500 } });
  });

  it('says the job is gone, and to submit it again with the same id, when a re-attach finds no job', async () => {
    const replacement = await startServer(['--workers', '1']);
    track(replacement);
    const p = await proxy(shared.port);
    const c = client(p.address, { retry: { baseDelayMs: 20 } });
    const job = await c.submit('spin', { ms: 3000, steps: 30 });
    const watching = (async () => {
      for await (const event of job.watch()) {
        if (event.type !== 'progress') continue;
        // Its replica is replaced at the same address: the new one never heard of the job.
        p.retarget(replacement.port);
        p.drop();
      }
    })();
    const gone = await failure(watching);
    expect(gone).toMatchObject({ code: Status.NOT_FOUND, message: Errors.jobLost(job.id).message });
    expect(gone.message).toMatch(/submit it again with the same id$/);
  });

  it('does not re-attach when retries are off', async () => {
    const p = await proxy(shared.port);
    const c = client(p.address, { retry: false });
    const job = await c.submit('spin', { ms: 1000, steps: 10 });
    const watching = (async () => {
      for await (const event of job.watch()) if (event.type === 'progress') p.drop();
    })();
    expect(await failure(watching)).toMatchObject({ code: Status.UNAVAILABLE });
    expect(p.connections).toBe(1);
  });
});

describe('job calls that fail to connect', () => {
  it('retries Submit and GetJob on UNAVAILABLE, as unary run is retried', async () => {
    const p = await proxy(shared.port);
    const c = client(p.address, { retry: { baseDelayMs: 50, maxRetries: 10 } });
    p.refuse(1);
    const job = await c.submit('echo', 'retried', { jobId: 'retried-submit-1' });
    expect(job.created).toBe(true);
    expect(p.connections).toBeGreaterThanOrEqual(2);
    p.drop();
    p.refuse(1);
    expect(await job.get()).toMatchObject({ id: 'retried-submit-1', task: 'echo' });
  });
});
