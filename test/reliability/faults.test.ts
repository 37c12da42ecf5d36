/**
 * Faults: tasks that throw, reject, throw from a timer after returning, call
 * process.exit, loop forever ignoring their signal, allocate without bound,
 * return something that is not JSON, or return more than a message may hold.
 * Each must fail only its own call (or batch item) with the code the README
 * documents, calls running on the other worker must succeed, and the pool
 * must come back to full size. Then one task crashes its worker over and over
 * while others keep calling: the pool must not starve.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOutcome, expectNoWarnings, expectNormalCallWorks, expectRecovered, inParallel, recoveredSample, SOAK, budget } from './common.js';
import { RawClient, statusCode, statusName, Tally, type Outcome } from './raw-client.js';
import { createReport, fill } from './report.js';
import { OffloadProcess, type Sample } from './server-process.js';
import { batchItemBody, decodeBatchEvent, decodeRunResponse, PATHS, runBody, runStreamBody, type RequestFields } from './wire.js';
import { eventually } from '../helpers/eventually.js';

const report = createReport('faults');
const MEMORY_MB = 256;
const CANCEL_GRACE_MS = 300;

let server: OffloadProcess;
let baseline: Sample;

beforeAll(async () => {
  server = await OffloadProcess.start('faults', ['--worker-max-memory-mb', String(MEMORY_MB), '--cancel-grace-ms', String(CANCEL_GRACE_MS)]);
  const client = new RawClient(server.address);
  try {
    // Warm both workers so the baseline has every module loaded.
    await Promise.all([1, 2].map(() => client.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 50 } }))));
  } finally {
    client.close();
  }
  baseline = await recoveredSample(server, await server.sample({ gc: true }));
}, 120_000);

afterAll(() => server?.kill());

interface Fault {
  /** What the task does wrong. */
  what: string;
  fields: RequestFields;
  code: string;
  /** The exact status message, or a pattern for messages offload does not choose. */
  message: string | RegExp;
  /** Worker restarts one such call costs. */
  restarts: number;
  deadlineMs?: number;
}

const FAULTS: Fault[] = [
  {
    what: 'throws an Error',
    fields: { task: 'fixture.throws', input: { message: 'disk on fire' } },
    code: 'INTERNAL',
    message: 'task fixture.throws failed: disk on fire',
    restarts: 0,
  },
  {
    what: 'rejects asynchronously',
    fields: { task: 'fixture.reject', input: { message: 'async boom', ms: 20 } },
    code: 'INTERNAL',
    message: 'task fixture.reject failed: async boom',
    restarts: 0,
  },
  {
    what: 'calls process.exit',
    fields: { task: 'fixture.exit' },
    code: 'INTERNAL',
    message: 'task fixture.exit failed: its worker stopped unexpectedly',
    restarts: 1,
  },
  {
    what: 'loops forever without checking its signal (client deadline 500 ms)',
    fields: { task: 'fixture.stubborn', input: { ms: 600_000 } },
    code: 'DEADLINE_EXCEEDED',
    message: /Deadline exceeded/,
    restarts: 1,
    deadlineMs: 500,
  },
  {
    what: `allocates without bound (--worker-max-memory-mb ${MEMORY_MB})`,
    fields: { task: 'fixture.hog' },
    code: 'RESOURCE_EXHAUSTED',
    message: `task fixture.hog exceeded the worker memory limit of ${MEMORY_MB} MB`,
    restarts: 1,
  },
  {
    what: 'returns an output that is not JSON',
    fields: { task: 'fixture.bad-output' },
    code: 'INTERNAL',
    message: 'task fixture.bad-output failed: output.fn is a function; a task must return JSON values',
    restarts: 0,
  },
  {
    what: 'returns a 100 MB output (over the 64 MiB message limit)',
    fields: { task: 'fixture.huge-output', input: { mb: 100 } },
    code: 'RESOURCE_EXHAUSTED',
    // The README documents no message for this yet; grpc-js says "Sent message larger than max (…)".
    message: /\S/,
    restarts: 0,
  },
];

const HEALTHY_MS = 300;
const healthy = (): RequestFields => ({ task: 'spin', input: { ms: HEALTHY_MS, steps: 3 } });

/** Outcome of a batch: every item's terminal status by id, and the call's own status. */
function batchItems(outcome: Outcome): Map<string, { code: string; message: string }> {
  const items = new Map<string, { code: string; message: string }>();
  for (const bytes of outcome.messages) {
    const event = decodeBatchEvent(bytes);
    if (event.result) items.set(event.id, { code: 'OK', message: '' });
    if (event.failure) items.set(event.id, { code: statusName(event.failure.code), message: event.failure.message });
  }
  return items;
}

/**
 * Both workers are back and take a call at once: two spins start without
 * waiting for each other. A replacement worker may still be starting (on a
 * loaded machine, that takes a second), so wait for the pool to report both
 * workers ready first; one that never comes back fails that wait.
 */
async function expectFullPool(offload: Pick<OffloadProcess, 'address' | 'readyWorkers'>): Promise<void> {
  await eventually(async () => expect(await offload.readyWorkers()).toBe(2), 20_000);
  const client = new RawClient(offload.address);
  try {
    const outcomes = await Promise.all([1, 2].map(() => client.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 1000 } }), { keep: true, watchdogMs: 20_000 })));
    const queued = outcomes.map((o) => (o.code === 0 ? Math.round(decodeRunResponse(o.messages[0]!).result?.queuedMs ?? NaN) : NaN));
    expect.soft(outcomes.map((o) => statusName(o.code)), 'two calls on a recovered pool').toEqual(['OK', 'OK']);
    // Had a worker been missing, the second call would have waited about 1000 ms for the first.
    expect.soft(Math.max(...queued), `ms the second of two concurrent calls waited (queued_ms ${queued.join(', ')})`).toBeLessThan(600);
  } finally {
    client.close();
  }
}

describe('a faulty task fails only its own call', () => {
  it.each(FAULTS)('a task that $what', async (fault) => {
    const row = report.scenario('Faults', `a task that ${fault.what}`);
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const peak = server.watchRss();
    const tally = new Tally();
    const client = new RawClient(server.address);
    const problems: string[] = (row.problems = []);
    const checkFault = (how: string, code: string, message: string): void => {
      const matches = typeof fault.message === 'string' ? message === fault.message : fault.message.test(message);
      if (code !== fault.code || !matches) problems.push(`${how}: expected ${fault.code} "${String(fault.message)}", got ${code} "${message.slice(0, 200)}"`);
    };
    const opts = { watchdogMs: 30_000, keep: true, ...(fault.deadlineMs ? { deadlineMs: fault.deadlineMs } : {}) };
    try {
      // 1. Run, with a healthy call on the other worker at the same time.
      const [faulty, ok] = await Promise.all([
        client.unary(PATHS.run, runBody(fault.fields), opts),
        client.unary(PATHS.run, runBody(healthy()), { watchdogMs: 30_000 }),
      ]);
      [faulty, ok].forEach((o) => tally.add(o));
      checkFault('Run', statusName(faulty.code), faulty.details);
      if (ok.code !== 0) problems.push(`the concurrent healthy Run: ${describeOutcome(ok)}`);
      await server.settle(before.threads);

      // 2. RunStream, the same.
      const [streamed, ok2] = await Promise.all([
        client.serverStream(PATHS.runStream, runStreamBody(fault.fields), opts),
        client.serverStream(PATHS.runStream, runStreamBody(healthy()), { watchdogMs: 30_000 }),
      ]);
      [streamed, ok2].forEach((o) => tally.add(o));
      checkFault('RunStream', statusName(streamed.code), streamed.details);
      if (ok2.code !== 0) problems.push(`the concurrent healthy RunStream: ${describeOutcome(ok2)}`);
      await server.settle(before.threads);

      // 3. One item of a batch: only that item fails; the batch goes on.
      const bodies = [batchItemBody('before', { task: 'echo', input: 'first' }), batchItemBody('faulty', fault.fields), batchItemBody('after', healthy())];
      const batch = await client.bidi(PATHS.runBatch, bodies, { watchdogMs: 30_000, keep: true, ...(fault.deadlineMs ? { deadlineMs: 5000 } : {}) });
      const items = batchItems(batch);
      for (const id of ['before', 'faulty', 'after']) {
        const item = items.get(id);
        tally.add({ code: item ? statusCode(item.code) : batch.code, ms: batch.ms });
      }
      if (fault.deadlineMs) {
        // A batch has one deadline for all its items; the stubborn item holds the call until it passes.
        if (statusName(batch.code) !== 'DEADLINE_EXCEEDED') problems.push(`RunBatch with a stubborn item and a 5 s deadline: ${describeOutcome(batch)}`);
      } else {
        if (batch.code !== 0) problems.push(`RunBatch: the call itself failed: ${describeOutcome(batch)} (items seen: ${[...items.keys()].join(', ') || 'none'})`);
        const faultyItem = items.get('faulty');
        if (!faultyItem) problems.push('RunBatch: no failure event for the faulty item');
        else checkFault('RunBatch item', faultyItem.code, faultyItem.message);
        for (const id of ['before', 'after']) if (items.get(id)?.code !== 'OK') problems.push(`RunBatch: the healthy item "${id}" got ${JSON.stringify(items.get(id) ?? 'nothing')}`);
      }
    } finally {
      client.close();
      row.peakRssMb = peak.stop();
      fill(row, tally);
    }
    expect.soft(problems, 'calls that did not end as documented').toEqual([]);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    // One call by each of Run, RunStream and RunBatch (the stubborn batch item, too, loses its worker).
    expect.soft(row.restarts, 'worker restarts: one per call that kills its worker').toBe(fault.restarts * 3);
    await expectFullPool(server);
    await expectNormalCallWorks(server.address);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, 120_000);

  it('a task that throws from a timer after returning fails no one else', async () => {
    const row = report.scenario('Faults', 'a task that throws from a timer 100 ms after returning, while other calls keep both workers busy');
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const tally = new Tally();
    const client = new RawClient(server.address);
    const innocent: string[] = (row.problems = []);
    try {
      const late = await client.unary(PATHS.run, runBody({ task: 'fixture.late-throw', input: { ms: 100 } }), { watchdogMs: 10_000 });
      tally.add(late);
      expect.soft(statusName(late.code), 'the call of the task that returned').toBe('OK');
      // For the next second, short calls keep both workers busy, so one of them runs when the timer fires.
      const until = performance.now() + 1000;
      await inParallel([1, 2, 3, 4], 4, async () => {
        while (performance.now() < until) {
          const o = await client.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 10, steps: 1 } }), { watchdogMs: 10_000 });
          tally.add(o);
          if (o.code !== 0) innocent.push(describeOutcome(o));
        }
      });
    } finally {
      client.close();
      fill(row, tally);
    }
    expect.soft(innocent, 'calls that failed although their own task did nothing wrong').toEqual([]);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    expect.soft(row.restarts, 'worker restarts').toBeLessThanOrEqual(1);
    await expectFullPool(server);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, 60_000);
});

describe('repeated crashes', () => {
  it('a task that kills its worker again and again is suspended, and the pool does not starve', async () => {
    const LIMIT = 5;
    const COOLDOWN_MS = 2000;
    const crashes = SOAK ? 300 : 30;
    const row = report.scenario(
      'Faults',
      `${crashes} calls that each kill their worker (fixture.exit), 2 at a time, while healthy calls keep coming (--crash-limit ${LIMIT}, --crash-cooldown-ms ${COOLDOWN_MS})`,
    );
    // A server of its own: the crash breaker's state must not leak into the other scenarios.
    const own = await OffloadProcess.start('faults-crash-loop', ['--crash-limit', String(LIMIT), '--crash-cooldown-ms', String(COOLDOWN_MS)]);
    try {
      const warm = new RawClient(own.address);
      await Promise.all([1, 2].map(() => warm.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 50 } }))));
      warm.close();
      const before = await recoveredSample(own, await own.sample({ gc: true }));
      row.before = before;
      const tally = new Tally();
      const crashTally = new Tally();
      const healthyTally = new Tally();
      const client = new RawClient(own.address);
      const problems: string[] = (row.problems = []);
      const suspended = /^task fixture\.exit is suspended for \d+ s: it crashed its worker \d+ times in a row$/;
      let crashing = true;
      try {
        const crashRun = inParallel(Array.from({ length: crashes }), 2, async () => {
          const o = await client.unary(PATHS.run, runBody({ task: 'fixture.exit' }), { watchdogMs: 60_000 });
          tally.add(o);
          crashTally.add(o);
          const name = statusName(o.code);
          if (!(name === 'INTERNAL' || (name === 'FAILED_PRECONDITION' && suspended.test(o.details)))) problems.push(`crash call: ${describeOutcome(o)}`);
        }).finally(() => (crashing = false));
        const healthyRun = inParallel([1, 2], 2, async () => {
          while (crashing) {
            const o = await client.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 20, steps: 1 } }), { watchdogMs: 60_000 });
            tally.add(o);
            healthyTally.add(o);
            if (o.code !== 0) problems.push(`healthy call: ${describeOutcome(o)}`);
          }
        });
        await Promise.all([crashRun, healthyRun]);
        const crashed = crashTally.get('INTERNAL');
        // Two calls in flight: the second may already be running when the first trips the breaker.
        expect.soft(crashed, `calls that crashed before the task was suspended (limit ${LIMIT}, 2 in flight)`).toBeGreaterThanOrEqual(LIMIT);
        expect.soft(crashed, `calls that crashed before the task was suspended (limit ${LIMIT}, 2 in flight)`).toBeLessThanOrEqual(LIMIT + 1);
        expect.soft(await own.restarts(), 'one worker restart per crash, none for refused calls').toBe(crashed);

        // After the cooldown one run is let through; it crashes again and the task is suspended again.
        await sleep(COOLDOWN_MS + 200);
        const probe = await client.unary(PATHS.run, runBody({ task: 'fixture.exit' }), { watchdogMs: 30_000 });
        const refused = await client.unary(PATHS.run, runBody({ task: 'fixture.exit' }), { watchdogMs: 30_000 });
        [probe, refused].forEach((o) => tally.add(o));
        expect.soft(statusName(probe.code), 'the run let through after the cooldown').toBe('INTERNAL');
        expect.soft(`${statusName(refused.code)} ${suspended.test(refused.details)}`, 'the next call, suspended again').toBe('FAILED_PRECONDITION true');
        expect.soft(await own.restarts(), 'restarts after the probe').toBe(crashed + 1);
      } finally {
        client.close();
        fill(row, tally);
      }
      row.notes.push(
        `crash calls: ${crashTally.toString()}, worst ${Math.round(crashTally.worstMs)} ms`,
        `healthy calls meanwhile: ${healthyTally.toString()}, worst ${Math.round(healthyTally.worstMs)} ms`,
      );
      expect.soft(problems.slice(0, 10), 'calls that did not end as expected').toEqual([]);
      expect.soft(healthyTally.get('OK'), 'healthy calls served while the crashes went on').toBeGreaterThan(0);
      expect.soft(healthyTally.worstMs, 'worst wait of a healthy call (not starved)').toBeLessThan(5000);
      const after = await recoveredSample(own, before);
      row.after = after;
      row.restarts = await own.restarts();
      await expectFullPool(own);
      await expectNormalCallWorks(own.address);
      expectNoWarnings(own, 0, row);
      expectRecovered(before, after);
    } finally {
      own.kill();
    }
  }, budget(240_000));
});

describe('after every fault', () => {
  it('the server is up and back near its baseline', async () => {
    const row = report.scenario('Faults', 'after every fault: the same server against its first baseline');
    row.before = baseline;
    expect(server.alive).toBe(true);
    await sleep(100);
    await expectNormalCallWorks(server.address);
    const after = await recoveredSample(server, baseline);
    row.after = after;
    row.restarts = await server.restarts();
    expectNoWarnings(server, 0, row);
    expectRecovered(baseline, after);
  }, 60_000);
});
