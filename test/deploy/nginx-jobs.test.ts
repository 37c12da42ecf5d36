/**
 * Jobs behind deploy/nginx.conf: three replicas (the compiled server, as
 * child processes) and nginx hashing on the `offload-job-id` metadata. A job
 * lives in the memory of the replica that admitted it, so every call about it
 * must reach that replica; calls without the header must still be balanced
 * call by call. The test uses the generated nice-grpc client and sends the
 * header itself, as any client would.
 *
 * Where each job lives is read from each replica's own port (GetJob there),
 * and where nginx sent each call from its access log (which names the job).
 */
import { Metadata, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, type WatchResponse } from '../../src/gen/offload/v1/compute.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { killAll, startNginx, startReplica, type Nginx, type Replica } from './cluster.js';
import { nginxConsistentHashRing, type Ring } from './nginx-ring.js';

/** Two workers each: 60 jobs run six at a time, so most wait in a queue first. */
const REPLICA_FLAGS = ['--workers', '2', '--max-queue', '64', '--shutdown-grace-ms', '10000'];
const JOBS = 60;
/** Long enough that a watch dropped at the first progress (100 ms in) re-attaches well before the result, even on a busy machine. */
const SPIN = { ms: 1000, steps: 10 };

/**
 * Jobs followed at once (submit, watch, drop, re-attach): enough to keep every
 * worker busy, few enough that each watch attaches within milliseconds of its
 * submit (60 at once through fresh upstream connections take a second).
 */
const FLOWS = 12;

/** Runs `each` over `items`, at most `limit` at a time; the results in the order of `items`. */
async function inParallel<T, R>(limit: number, items: readonly T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await each(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** The metadata that routes a call about job `id`. */
function about(id: string): { metadata: Metadata } {
  return { metadata: Metadata({ 'offload-job-id': id }) };
}

interface Connected {
  client: ComputeClient;
  close: () => void;
}

interface LogLine {
  method: string;
  /** The replica that answered: the last of the upstreams nginx tried. */
  upstream: string;
  job: string;
}

describe('jobs behind nginx (deploy/nginx.conf) with three replicas', () => {
  let replicas: Replica[] = [];
  let nginx: Nginx;
  let ring: Ring;
  /** Two clients of nginx, on two connections: watches drop on one and re-attach on the other. */
  let first: Connected;
  let second: Connected;
  /** One client per replica, straight to its port. */
  const direct = new Map<Replica, Connected>();
  const address = (replica: Replica): string => `127.0.0.1:${replica.port}`;
  const ids = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
  /** Which replica holds each job, read from the replicas themselves. */
  const holder = new Map<string, Replica>();
  let drained: Replica;

  beforeAll(async () => {
    const started = await Promise.allSettled(Array.from({ length: 3 }, () => startReplica(REPLICA_FLAGS)));
    replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    nginx = await startNginx(replicas.map((r) => r.port));
    ring = nginxConsistentHashRing(replicas.map(address));
    first = connect(`127.0.0.1:${nginx.port}`);
    second = connect(`127.0.0.1:${nginx.port}`);
    for (const replica of replicas) direct.set(replica, connect(address(replica)));
  });

  afterAll(async () => {
    first?.close();
    second?.close();
    for (const { close } of direct.values()) close();
    await nginx?.stop();
    await killAll(replicas);
  });

  /** The replicas (of `among`) that hold job `id`, asked on their own ports. */
  async function holdersOf(id: string, among: readonly Replica[] = replicas): Promise<Replica[]> {
    const found = await Promise.all(
      among.map(async (replica) => {
        try {
          await direct.get(replica)!.client.getJob({ jobId: id });
          return [replica];
        } catch (error) {
          if ((error as { code?: number }).code === Status.NOT_FOUND) return [];
          throw error;
        }
      }),
    );
    return found.flat();
  }

  /** Every access log line so far, once nginx has logged at least `count` of them. */
  async function logLines(count: number): Promise<LogLine[]> {
    const parse = (): LogLine[] =>
      nginx
        .accessLog()
        .split('\n')
        .flatMap((line) => {
          const match = /"POST \/offload\.v1\.ComputeService\/(\w+) .* upstream=(\S+(?:, \S+)*) upstream_status=.* job=(\S*)$/.exec(line);
          return match ? [{ method: match[1]!, upstream: match[2]!.split(', ').at(-1)!, job: match[3]! }] : [];
        });
    // nginx logs a call once it has finished it, a moment after the client has its status.
    return eventually(() => {
      const lines = parse();
      expect(lines.length).toBeGreaterThanOrEqual(count);
      return lines;
    });
  }

  async function watchToEnd(client: ComputeClient, id: string): Promise<WatchResponse[]> {
    return collect(client.watch({ jobId: id }, about(id)));
  }

  it('sends every call about a job to the replica holding it: 60 jobs submitted through nginx, each watch dropped mid-run and re-attached on another connection, all 60 results', async () => {
    const outcomes = await inParallel(FLOWS, ids, async (id) => {
      const { job, created } = await first.client.submit({ task: 'spin', input: SPIN, jobId: id }, about(id));
      expect({ id: job?.id, created }).toEqual({ id, created: true });
      // The first watcher leaves at the job's first progress, before its result: that cancels its call, not the job.
      let droppedAt: number | undefined;
      for await (const event of first.client.watch({ jobId: id }, about(id))) {
        if (event.result || event.failure) break;
        if (event.progress && event.progress.fraction > 0) {
          droppedAt = event.progress.fraction;
          break;
        }
      }
      const events = await watchToEnd(second.client, id);
      return {
        id,
        droppedAt,
        // Re-attached while the job still ran: the stream carried a progress short of the end.
        reattachedMidRun: events.some((e) => e.progress !== undefined && e.progress.fraction < 1),
        output: events.at(-1)?.result?.output as unknown,
      };
    });
    expect(outcomes.filter((o) => o.droppedAt === undefined || o.droppedAt >= 1)).toEqual([]);
    expect(outcomes.filter((o) => !o.reattachedMidRun)).toEqual([]);
    expect(outcomes.map((o) => [o.id, o.output])).toEqual(ids.map((id) => [id, { ms: SPIN.ms }]));

    // Each job lives on exactly one replica, ...
    for (const id of ids) {
      const holders = await holdersOf(id);
      expect({ id, holders: holders.map(address) }).toEqual({ id, holders: [expect.any(String)] });
      holder.set(id, holders[0]!);
    }
    const { job } = await direct.get(holder.get(ids[0]!)!)!.client.getJob({ jobId: ids[0]! });
    expect(job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    // ... the jobs spread over all three, ...
    expect(new Set(holder.values()).size).toBe(3);
    // ... each where nginx's consistent hash ring of the three server lines puts its id, ...
    expect(ids.filter((id) => ring.owner(id) !== address(holder.get(id)!))).toEqual([]);
    // ... and every call about it (Submit, both watches) went there: 3 per job.
    const lines = (await logLines(3 * JOBS)).filter((line) => line.job !== '-');
    expect(lines).toHaveLength(3 * JOBS);
    const strays = lines.filter((line) => line.upstream !== address(holder.get(line.job)!));
    expect(strays).toEqual([]);
  }, 60_000);

  it('still balances calls without offload-job-id, or with it empty, round robin call by call over all three replicas', async () => {
    const before = (await logLines(0)).length;
    for (let i = 0; i < 15; i++) await first.client.listTasks({});
    for (let i = 0; i < 15; i++) await first.client.listTasks({}, about(''));
    const lines = (await logLines(before + 30)).slice(before);
    // The header absent ("-"), then present and empty: both an empty hash key, which nginx balances round robin.
    expect(lines.map((line) => line.job)).toEqual([...Array<string>(15).fill('-'), ...Array<string>(15).fill('')]);
    const served = lines.map((line) => line.upstream);
    // Round robin: every three calls in a row reach three different replicas.
    for (let i = 0; i + 3 <= served.length; i++) expect(new Set(served.slice(i, i + 3)).size).toBe(3);
    expect(new Set(served)).toEqual(new Set(replicas.map(address)));
  });

  it('lets the jobs of a replica drained with SIGTERM run to their end and answer through nginx meanwhile, refuses a new Submit there with UNAVAILABLE "server shutting down", and leaves the jobs on the other two as they were', async () => {
    drained = holder.get(ids[0]!)!;
    const lost = ids.filter((id) => holder.get(id) === drained);
    const kept = ids.filter((id) => holder.get(id) !== drained);
    const ownedByDrained = (prefix: string): string => Array.from({ length: 1000 }, (_, i) => `${prefix}-${i}`).find((id) => ring.owner(id) === address(drained))!;
    // A job running on the replica about to be drained, with nobody watching it: it holds the drain.
    const running = ownedByDrained('running-in-drain');
    const long = { ms: 4000, steps: 40 };
    await first.client.submit({ task: 'spin', input: long, jobId: running }, about(running));
    await eventually(async () => expect((await first.client.getJob({ jobId: running }, about(running))).job?.state).toBe(JobState.JOB_STATE_RUNNING));

    drained.child.kill('SIGTERM');
    const draining = await eventually(() => {
      const line = drained.output().split('\n').find((l) => l.includes('"phase":"draining"'));
      expect(line).toBeDefined();
      return JSON.parse(line!) as { calls: number };
    });
    // What the drain waits for: that job, nobody's call.
    expect(draining.calls).toBe(1);
    // nginx still sends the drained replica's ids there (an answer is not a failure): it refuses new jobs, ...
    const late = ownedByDrained('late');
    expect(await rejection(first.client.submit({ task: 'echo', input: 1, jobId: late }, about(late)))).toMatchObject({ code: Status.UNAVAILABLE, details: 'server shutting down' });
    // ... still answers about the ones it holds, ...
    expect((await first.client.getJob({ jobId: lost[0]! }, about(lost[0]!))).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    // ... and the other replicas' jobs never notice.
    const during = await Promise.all(kept.map(async (id) => (await first.client.getJob({ jobId: id }, about(id))).job?.state));
    expect(during).toEqual(kept.map(() => JobState.JOB_STATE_SUCCEEDED));
    // A watcher attaching during the drain follows the running job to its result.
    const events = await watchToEnd(second.client, running);
    expect(events.some((e) => e.progress !== undefined && e.progress.fraction < 1)).toBe(true);
    expect(events.at(-1)?.result?.output).toEqual({ ms: long.ms });
    expect(await drained.exited).toBe(0);
  });

  it('keeps the jobs on the other two replicas answering through nginx once the drained one has exited, and lands new ids that hash to them there', async () => {
    const survivors = replicas.filter((r) => r !== drained);
    const kept = ids.filter((id) => holder.get(id) !== drained);
    expect(kept.length).toBeGreaterThan(0);
    await Promise.all(
      kept.map(async (id) => {
        const { job } = await first.client.getJob({ jobId: id }, about(id));
        expect({ id, state: job?.state, output: job?.result?.output as unknown }).toEqual({ id, state: JobState.JOB_STATE_SUCCEEDED, output: { ms: SPIN.ms } });
        expect((await watchToEnd(second.client, id)).at(-1)?.result?.output).toEqual({ ms: SPIN.ms });
        // The same request under the same id reaches the same job: nothing runs twice.
        const again = await first.client.submit({ task: 'spin', input: SPIN, jobId: id }, about(id));
        expect({ id, created: again.created }).toEqual({ id, created: false });
      }),
    );

    // New ids that hashed to a surviving replica while all three were up: 5 for each.
    const fresh = survivors.flatMap((survivor) =>
      Array.from({ length: 1000 }, (_, i) => `after-drain-${i}`)
        .filter((id) => ring.owner(id) === address(survivor))
        .slice(0, 5),
    );
    expect(fresh).toHaveLength(10);
    const quick = { ms: 200, steps: 2 };
    await Promise.all(
      fresh.map(async (id) => {
        expect((await first.client.submit({ task: 'spin', input: quick, jobId: id }, about(id))).created).toBe(true);
        expect((await watchToEnd(second.client, id)).at(-1)?.result?.output).toEqual({ ms: quick.ms });
      }),
    );
    for (const id of fresh) expect({ id, holders: (await holdersOf(id, survivors)).map(address) }).toEqual({ id, holders: [ring.owner(id)] });
  });

  it("answers NOT_FOUND through nginx for the drained replica's jobs, and runs one again on the next replica of the ring when it is resubmitted under the same id", async () => {
    const survivors = replicas.filter((r) => r !== drained);
    const lost = ids.filter((id) => holder.get(id) === drained);
    expect(lost.length).toBeGreaterThan(0);
    for (const id of lost) {
      expect(await rejection(first.client.getJob({ jobId: id }, about(id)))).toMatchObject({ code: Status.NOT_FOUND });
      expect(await rejection(watchToEnd(second.client, id))).toMatchObject({ code: Status.NOT_FOUND });
    }

    const id = lost[0]!;
    const next = ring.owner(id, new Set([address(drained)]));
    expect(survivors.map(address)).toContain(next);
    const resubmitted = await first.client.submit({ task: 'spin', input: SPIN, jobId: id }, about(id));
    expect(resubmitted.created).toBe(true);
    expect((await watchToEnd(second.client, id)).at(-1)?.result?.output).toEqual({ ms: SPIN.ms });
    expect((await holdersOf(id, survivors)).map(address)).toEqual([next]);
    // And it stays there: another call about it finds the new job.
    expect((await first.client.getJob({ jobId: id }, about(id))).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });
});
