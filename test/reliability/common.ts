/**
 * What every reliability scenario shares: the budgets, running calls with a
 * bounded number in flight, and the checks that the server came back to
 * where it started.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { RawClient, statusName, type Outcome } from './raw-client.js';
import type { OffloadProcess, Sample } from './server-process.js';
import { decodeRunResponse, PATHS, runBody } from './wire.js';

/** OFFLOAD_SOAK=1: the long version of every scenario (ten times the calls). */
export const SOAK = process.env['OFFLOAD_SOAK'] === '1';

/** A test's timeout: `ms` in CI, an hour for a soak. */
export const budget = (ms: number): number => (SOAK ? 3_600_000 : ms);

/**
 * "Back near baseline": the main isolate's heap after a full GC may grow by
 * this much (a per-call leak over thousands of calls shows up well above it).
 */
export const HEAP_SLACK_MB = 16;
/**
 * RSS includes every worker's heap and the allocator's free lists, which V8
 * and glibc keep after a burst of big messages; it plateaus but does not
 * return to the byte. Measured after the hostile-input scenarios (10 MB
 * strings, 1M-number lists, messages near 64 MiB): +100 to +230 MB on Node
 * 20; on Node 24 +180 to +310 MB, and 368, 323 and 350 MB after three rounds
 * in one server (baseline 172): retained, not growing round after round.
 */
export const RSS_SLACK_MB = 384;

/** How long any single call of the hostile and fault scenarios may take: "within seconds". */
export const CALL_BUDGET_MS = 10_000;

/** Runs `fn` for every item with at most `limit` in flight. */
export async function inParallel<T>(items: Iterable<T>, limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let index = 0;
  const lane = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await fn(next.value, index++);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

/**
 * After a scenario: waits for an empty queue, no running task, every worker
 * back (thread count) and connections closed (fds), then samples after a GC.
 */
export async function recoveredSample(server: OffloadProcess, before: Sample): Promise<Sample> {
  try {
    await server.settle(before.threads);
  } catch (error) {
    // Recorded, and the other figures are still taken.
    expect.soft((error as Error).message, 'the server recovers: empty queue, no task running, every worker back').toBe('');
  }
  const until = Date.now() + 10_000;
  while ((server.fds() > before.fds || server.connections() > before.connections) && Date.now() < until) await sleep(100);
  // A descriptor open for a while is not a leak: a leak never closes. Seen:
  // two sockets gone a few ms later.
  let sample = await server.sample({ gc: true });
  const fdsUntil = Date.now() + 10_000;
  while (ownFds(sample) > ownFds(before) && Date.now() < fdsUntil) {
    await sleep(200);
    sample = await server.sample();
  }
  return sample;
}

/**
 * Descriptors the server holds, less client connections and tsx's cache
 * directory. A worker that compiles a TypeScript task for the first time has
 * tsx list that directory in the background (FileCache.expireDiskCache, an
 * opendir over every cached file); when the worker goes idle, piscina parks
 * it in a blocking Atomics.wait, so the listing, and its descriptor, wait for
 * that worker's next task. At most one per worker, and it closes: not a leak.
 */
function ownFds(sample: Sample): number {
  const tsxCache = Object.entries(sample.fdKinds).reduce((n, [kind, count]) => n + (/\/tsx-\d+$/.test(kind) ? count : 0), 0);
  return sample.fds - sample.connections - tsxCache;
}

/** The server is back where it started: threads, descriptors, heap and RSS. */
export function expectRecovered(before: Sample, after: Sample): void {
  // Fewer is no leak: a lazily started helper thread (esbuild's, see settle) need not come back.
  expect.soft(after.threads, 'OS threads: none left behind').toBeLessThanOrEqual(before.threads);
  expect.soft(ownFds(after), `open file descriptors other than client connections (no handle leak): before ${JSON.stringify(before.fdKinds)}, after ${JSON.stringify(after.fdKinds)}`).toBeLessThanOrEqual(ownFds(before));
  expect.soft(after.connections, 'client connections still open on the server after every client closed').toBeLessThanOrEqual(before.connections);
  expect.soft(after.heapMb, `main heap after GC (baseline ${before.heapMb} MB + ${HEAP_SLACK_MB})`).toBeLessThanOrEqual(before.heapMb + HEAP_SLACK_MB);
  expect.soft(after.rssMb, `RSS (baseline ${before.rssMb} MB + ${RSS_SLACK_MB})`).toBeLessThanOrEqual(before.rssMb + RSS_SLACK_MB);
}

/** A normal call on a fresh connection: primes below 1000 is 168. */
export async function normalCall(address: string): Promise<Outcome & { output: unknown }> {
  const client = new RawClient(address);
  try {
    const outcome = await client.unary(PATHS.run, runBody({ task: 'primes', input: { limit: 1000 } }), { keep: true, watchdogMs: 15_000 });
    const first = outcome.messages[0];
    const output: unknown = outcome.code === 0 && first ? decodeRunResponse(first).result?.output : undefined;
    return { ...outcome, output };
  } finally {
    client.close();
  }
}

export async function expectNormalCallWorks(address: string): Promise<void> {
  const outcome = await normalCall(address);
  expect.soft(`${statusName(outcome.code)} ${outcome.details}`.trim(), 'a normal call afterwards').toBe('OK');
  expect.soft(outcome.output, 'a normal call afterwards').toEqual({ count: 168 });
}

/** Describes an outcome in one line for failure lists. */
export function describeOutcome(outcome: Outcome): string {
  const details = outcome.details.length > 120 ? `${outcome.details.slice(0, 120)}… (${outcome.details.length} chars)` : outcome.details;
  return `${statusName(outcome.code)} "${details}" after ${Math.round(outcome.ms)} ms`;
}

/**
 * No process warnings since `mark` (a length of the server's stderr): a
 * MaxListenersExceededWarning, for one, means listeners pile up on a signal.
 */
export function expectNoWarnings(server: OffloadProcess, mark: number, row?: { problems: string[] }): void {
  const warnings = server.warningsSince(mark);
  row?.problems.push(...warnings.map((warning) => `process warning: ${warning.split('\n').map((line) => line.trim()).join(' ← ')}`));
  expect.soft(warnings.map((warning) => warning.split('\n')[0]), 'process warnings on the server\'s stderr').toEqual([]);
}
