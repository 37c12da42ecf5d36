/**
 * Load and churn: 2000 concurrent RunStream calls, a cancellation storm,
 * clients that stop reading their streams, and one RunBatch of 100 000 items.
 * Afterwards the queue must be empty, every worker idle and present, no file
 * descriptor left open, and memory back near its baseline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { describeOutcome, expectNoWarnings, expectNormalCallWorks, expectRecovered, recoveredSample, SOAK, budget } from './common.js';
import { Prng, runSeed } from './prng.js';
import { RawClient, statusName, Tally, type Outcome } from './raw-client.js';
import { createReport, fill } from './report.js';
import { OffloadProcess } from './server-process.js';
import { batchItemBody, decodeBatchEvent, decodeStreamEvent, PATHS, runBody, runStreamBody } from './wire.js';

const report = createReport('load');
const CANCEL_GRACE_MS = 300;

let server: OffloadProcess;
const started: OffloadProcess[] = [];

/**
 * Every scenario gets a fresh server (so one scenario's damage is not the
 * next one's baseline), warmed up so each worker has imported the tasks used.
 */
async function freshServer(name: string, flags: string[] = []): Promise<OffloadProcess> {
  const fresh = await OffloadProcess.start(name, ['--max-queue', '4000', '--cancel-grace-ms', String(CANCEL_GRACE_MS), ...flags]);
  started.push(fresh);
  const client = new RawClient(fresh.address);
  try {
    for (const task of ['spin', 'echo', 'fixture.wait', 'fixture.flood']) {
      await Promise.all([1, 2].map(() => client.unary(PATHS.run, runBody({ task, input: task === 'echo' ? 1 : { ms: 5 } }))));
    }
  } finally {
    client.close();
  }
  await recoveredSample(fresh, await fresh.sample());
  return fresh;
}

afterEach(() => {
  for (const each of started.splice(0)) each.kill();
});

/** Checks a stream's events as they arrive: fractions in [0, 1] and nondecreasing, one result, last. */
function streamChecker(): { onMessage: (bytes: Buffer) => void; problem: () => string | undefined } {
  let last = 0;
  let results = 0;
  let problem: string | undefined;
  return {
    onMessage(bytes) {
      const event = decodeStreamEvent(bytes);
      if (results > 0) problem ??= 'an event after the result';
      if (event.progress) {
        if (!(event.progress.fraction >= last && event.progress.fraction <= 1)) problem ??= `progress ${event.progress.fraction} after ${last}`;
        last = event.progress.fraction;
      }
      if (event.result) results++;
    },
    problem: () => problem,
  };
}

describe('load and churn', () => {
  it('2000 concurrent RunStream calls all complete with well-formed streams', async () => {
    const calls = SOAK ? 20_000 : 2000;
    const row = report.scenario('Load and churn', `${calls} concurrent RunStream calls (spin 1 ms, 2 steps) on 4 connections, --max-queue 4000`);
    server = await freshServer('load-2000-streams');
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const clients = Array.from({ length: 4 }, () => new RawClient(server.address));
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    const peak = server.watchRss();
    const started = Date.now();
    try {
      const body = runStreamBody({ task: 'spin', input: { ms: 1, steps: 2 } });
      await Promise.all(
        Array.from({ length: calls }, async (_, i) => {
          const check = streamChecker();
          const outcome = await clients[i % clients.length]!.serverStream(PATHS.runStream, body, { watchdogMs: 180_000, onMessage: check.onMessage });
          tally.add(outcome);
          const problem = outcome.code === 0 ? check.problem() : describeOutcome(outcome);
          if (problem && problems.length < 10) problems.push(`stream ${i}: ${problem}`);
        }),
      );
    } finally {
      row.peakRssMb = peak.stop();
      for (const client of clients) client.close();
      fill(row, tally);
    }
    row.notes.push(`all ${calls} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect.soft(problems, 'streams that did not end with exactly one result after nondecreasing progress').toEqual([]);
    expect.soft(tally.get('OK'), 'streams that completed').toBe(calls);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    expect.soft(row.restarts, 'worker restarts').toBe(0);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, budget(300_000));

  it('a cancellation storm leaves no task queued or running and costs no worker', async () => {
    const seed = runSeed(0x57);
    const calls = SOAK ? 5000 : 600;
    const row = report.scenario('Load and churn', `cancellation storm: ${calls} Run, RunStream and RunBatch calls of cooperative tasks, cancelled at random moments (seed ${seed})`);
    server = await freshServer('load-cancellation-storm');
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const rng = new Prng(seed);
    const clients = Array.from({ length: 4 }, () => new RawClient(server.address));
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    const when = { immediately: 0, early: 0, late: 0 };
    const peak = server.watchRss();
    try {
      await Promise.all(
        Array.from({ length: calls }, async (_, i) => {
          const client = clients[i % clients.length]!;
          const task = rng.chance(0.5)
            ? { task: 'spin', input: { ms: rng.int(20, 300), steps: rng.int(1, 50) } }
            : { task: 'fixture.wait', input: { ms: rng.int(20, 600) } };
          // A quarter are cancelled before the server can even start them, a quarter while
          // most are still queued (between queue and start), the rest at any time.
          const roll = rng.next();
          const delay = roll < 0.25 ? -1 : roll < 0.5 ? rng.int(0, 50) : rng.int(0, 3000);
          if (delay < 0) when.immediately++;
          else if (delay <= 50) when.early++;
          else when.late++;
          const controller = new AbortController();
          if (delay < 0) queueMicrotask(() => controller.abort());
          else setTimeout(() => controller.abort(), delay);
          const kind = rng.next();
          const opts = { watchdogMs: 120_000, signal: controller.signal };
          let outcome: Outcome;
          if (kind < 0.2) outcome = await client.unary(PATHS.run, runBody(task), opts);
          else if (kind < 0.8) outcome = await client.serverStream(PATHS.runStream, runStreamBody(task), opts);
          else outcome = await client.bidi(PATHS.runBatch, [0, 1, 2].map((n) => batchItemBody(String(n), task)), opts);
          tally.add(outcome);
          const name = statusName(outcome.code);
          if (name !== 'OK' && name !== 'CANCELLED' && problems.length < 10) problems.push(`call ${i}: ${describeOutcome(outcome)}`);
        }),
      );
    } finally {
      row.peakRssMb = peak.stop();
      for (const client of clients) client.close();
      fill(row, tally);
    }
    row.notes.push(`cancelled immediately: ${when.immediately}, within 50 ms: ${when.early}, later (up to 3 s): ${when.late}`);
    expect.soft(problems, 'calls that ended other than OK or CANCELLED').toEqual([]);
    // Every cancelled task stops within the cancel grace; settle() requires an empty queue and no task running.
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    // spin checks its signal and fixture.wait sleeps on it: cancelling them must not cost a worker.
    expect.soft(row.restarts, 'workers terminated although every task honours cancellation').toBe(0);
    await expectNormalCallWorks(server.address);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, budget(300_000));

  it('clients that stop reading: memory stays bounded, tasks finish on their own, the streams end when read or cancelled', async () => {
    const streams = 8;
    const row = report.scenario('Load and churn', `${streams} streams whose clients stop reading (fixture.flood and spin with 10 000 steps, 1.5 s each)`);
    server = await freshServer('load-stalled-readers');
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const client = new RawClient(server.address);
    const tally = new Tally();
    const paused: ClientReadableStream<Buffer>[] = [];
    const peak = server.watchRss(50);
    const checkers = Array.from({ length: streams }, () => streamChecker());
    const controllers = Array.from({ length: streams }, () => new AbortController());
    let outcomes: Outcome[] = [];
    try {
      const calls = checkers.map((check, i) => {
        const body = runStreamBody(i % 2 === 0 ? { task: 'fixture.flood', input: { ms: 1500 } } : { task: 'spin', input: { ms: 1500, steps: 10_000 } });
        return client.serverStream(PATHS.runStream, body, {
          watchdogMs: 120_000,
          onMessage: check.onMessage,
          signal: controllers[i]!.signal,
          onStream: (stream) => {
            // Read the first event, then stop reading for good.
            stream.once('data', () => stream.pause());
            paused.push(stream);
          },
        });
      });
      // Every task has run its 1.5 s (8 tasks on 2 workers) while nobody reads.
      const deadline = Date.now() + 30_000;
      let gauges = await server.poolGauges();
      await sleep(3000);
      while (Date.now() < deadline) {
        gauges = await server.poolGauges();
        if (gauges.queued === 0 && gauges.running === 0) break;
        await sleep(200);
      }
      expect.soft(gauges, 'queue and running tasks while the clients still do not read').toEqual({ queued: 0, running: 0 });
      row.peakRssMb = peak.stop();
      row.notes.push(`peak RSS while nobody read: ${row.peakRssMb} MB (before: ${before.rssMb} MB)`);
      // Half the clients read again and get their results; the other half give up.
      for (const [i, stream] of paused.entries()) {
        if (i % 2 === 0) stream.resume();
        else controllers[i]!.abort();
      }
      outcomes = await Promise.all(calls);
      outcomes.forEach((o) => tally.add(o));
    } finally {
      peak.stop();
      client.close();
      fill(row, tally);
    }
    expect.soft(row.peakRssMb, 'peak RSS while the clients did not read').toBeLessThan(before.rssMb + 128);
    const resumed = outcomes.filter((_, i) => i % 2 === 0);
    const cancelled = outcomes.filter((_, i) => i % 2 === 1);
    expect.soft(resumed.map((o) => statusName(o.code)), 'streams read again').toEqual(resumed.map(() => 'OK'));
    expect.soft(checkers.filter((_, i) => i % 2 === 0).map((c) => c.problem() ?? 'ok'), 'their events').toEqual(resumed.map(() => 'ok'));
    expect.soft(cancelled.map((o) => statusName(o.code)), 'streams given up').toEqual(cancelled.map(() => 'CANCELLED'));
    row.notes.push(`events received by the resumed streams: ${resumed.map((o) => o.count).join(', ')} (progress coalesced while nobody read)`);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    expect.soft(row.restarts, 'worker restarts').toBe(0);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, 120_000);

  it('one RunBatch of 100 000 items from one client: one result per item, memory bounded', async () => {
    const items = SOAK ? 1_000_000 : 100_000;
    const row = report.scenario('Load and churn', `one RunBatch of ${items.toLocaleString('en')} echo items from one client`);
    server = await freshServer('load-batch-100k');
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const client = new RawClient(server.address);
    const tally = new Tally();
    const seen = new Uint8Array(items); // 1: started, 2: result
    const itemTally = new Tally();
    const problems: string[] = (row.problems = []);
    const peak = server.watchRss();
    const started = Date.now();
    let outcome: Outcome | undefined;
    try {
      function* bodies(): Generator<Buffer> {
        for (let i = 0; i < items; i++) yield batchItemBody(String(i), { task: 'echo', input: i });
      }
      outcome = await client.bidi(PATHS.runBatch, bodies(), {
        watchdogMs: 900_000,
        onMessage: (bytes) => {
          const event = decodeBatchEvent(bytes);
          const id = Number(event.id);
          if (!Number.isInteger(id) || id < 0 || id >= items) {
            if (problems.length < 10) problems.push(`an event for unknown id "${event.id}"`);
            return;
          }
          if (event.result) {
            if (seen[id] === 2 && problems.length < 10) problems.push(`a second result for item ${id}`);
            if (event.result.output !== id && problems.length < 10) problems.push(`item ${id} came back as ${JSON.stringify(event.result.output)}`);
            seen[id] = 2;
            itemTally.add({ code: 0, ms: 0 });
          } else if (event.failure) {
            seen[id] = 2;
            itemTally.add({ code: event.failure.code, ms: 0 });
            if (problems.length < 10) problems.push(`item ${id} failed: ${event.failure.message}`);
          }
        },
      });
      tally.add(outcome);
    } finally {
      row.peakRssMb = peak.stop();
      client.close();
    }
    const seconds = (Date.now() - started) / 1000;
    fill(row, itemTally);
    row.calls = items;
    row.worstMs = Math.round(outcome?.ms ?? 0);
    row.notes.push(`the call: ${tally.toString()}; ${Math.round(items / seconds)} items/s; worst = the whole call`);
    expect.soft(outcome && describeOutcome(outcome), 'the batch call').toMatch(/^OK/);
    expect.soft(problems, 'item events that were wrong').toEqual([]);
    let missing = 0;
    for (const state of seen) if (state !== 2) missing++;
    expect.soft(missing, 'items without a result').toBe(0);
    expect.soft(row.peakRssMb, 'peak RSS during the batch').toBeLessThan(before.rssMb + 256);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, budget(900_000));
});
