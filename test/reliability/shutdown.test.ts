/**
 * Shutdown under load: SIGTERM while hundreds of calls are queued and running.
 * Every call must either complete or get UNAVAILABLE "server shutting down";
 * none may hang; calls arriving during the drain are refused with
 * UNAVAILABLE; the process exits 0 within its grace (plus the bounded steps
 * that follow it: the cancel grace for tasks that ignore their signal and a
 * two-second flush of finished calls).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { describeOutcome } from './common.js';
import { Prng, runSeed } from './prng.js';
import { RawClient, statusCode, statusName, Tally, type Outcome } from './raw-client.js';
import { createReport, fill } from './report.js';
import { OffloadProcess } from './server-process.js';
import { batchItemBody, decodeBatchEvent, PATHS, runBody, runStreamBody, type RequestFields } from './wire.js';

const report = createReport('shutdown');
const CANCEL_GRACE_MS = 300;
/** What the drain may take after the grace: the cancel grace + 1 s for aborted calls, then at most 2 s to flush. */
const AFTER_GRACE_MS = CANCEL_GRACE_MS + 1000 + 2000;
const SHUTTING_DOWN = 'server shutting down';

const started: OffloadProcess[] = [];
afterEach(() => {
  for (const server of started.splice(0)) server.kill();
});

interface Load {
  outcomes: Promise<{ outcome: Outcome; kind: string }[]>;
}

/** Sends `count` calls of spin (and `stubborn` calls that ignore cancellation) by Run, RunStream and RunBatch. */
function sendLoad(clients: RawClient[], rng: Prng, count: number, spinMs: [number, number], stubborn: number, watchdogMs: number): Load {
  const calls: Promise<{ outcome: Outcome; kind: string }>[] = [];
  for (let i = 0; i < stubborn; i++) {
    calls.push(clients[0]!.unary(PATHS.run, runBody({ task: 'fixture.stubborn', input: { ms: 600_000 } }), { watchdogMs }).then((outcome) => ({ outcome, kind: 'Run stubborn' })));
  }
  for (let i = 0; i < count; i++) {
    const client = clients[i % clients.length]!;
    const task: RequestFields = { task: 'spin', input: { ms: rng.int(spinMs[0], spinMs[1]), steps: 5 } };
    const roll = rng.next();
    if (roll < 0.4) calls.push(client.unary(PATHS.run, runBody(task), { watchdogMs }).then((outcome) => ({ outcome, kind: 'Run' })));
    else if (roll < 0.8) calls.push(client.serverStream(PATHS.runStream, runStreamBody(task), { watchdogMs }).then((outcome) => ({ outcome, kind: 'RunStream' })));
    else {
      const bodies = [0, 1, 2].map((n) => batchItemBody(`${i}.${n}`, task));
      calls.push(client.bidi(PATHS.runBatch, bodies, { watchdogMs, keep: true }).then((outcome) => ({ outcome, kind: 'RunBatch' })));
    }
  }
  return { outcomes: Promise.all(calls) };
}

/** Each call's outcome, and each batch item's as if it were a call of its own. */
function judge(results: { outcome: Outcome; kind: string }[], tally: Tally, problems: string[]): void {
  for (const { outcome, kind } of results) {
    const name = statusName(outcome.code);
    if (kind === 'RunBatch') {
      const items = new Map<string, number>();
      for (const bytes of outcome.messages) {
        const event = decodeBatchEvent(bytes);
        if (event.result) items.set(event.id, 0);
        if (event.failure) {
          items.set(event.id, event.failure.code);
          if (event.failure.code !== statusCode('UNAVAILABLE') || event.failure.message !== SHUTTING_DOWN) {
            problems.push(`a batch item failed with ${statusName(event.failure.code)} "${event.failure.message}"`);
          }
        }
      }
      outcome.messages = [];
      // Items the call never reported share the call's status.
      for (let n = items.size; n < 3; n++) tally.add(outcome);
      for (const code of items.values()) tally.add({ code, ms: outcome.ms });
    } else {
      tally.add(outcome);
    }
    if (name === 'OK') continue;
    if (name !== 'UNAVAILABLE' || outcome.details !== SHUTTING_DOWN) problems.push(`${kind}: ${describeOutcome(outcome)}`);
  }
}

describe('shutdown under load', () => {
  it('SIGTERM with hundreds of calls queued and running: each completes or gets UNAVAILABLE, and the process exits 0 in time', async () => {
    const GRACE_MS = 3000;
    const seed = runSeed(0x5167);
    const count = 300;
    const row = report.scenario(
      'Shutdown under load',
      `SIGTERM with ${count + 1} calls queued and running (1 ignores cancellation), --shutdown-grace-ms ${GRACE_MS}; 20 more calls during the drain`,
    );
    const server = await OffloadProcess.start('shutdown-under-load', [
      '--max-queue', '1000', '--shutdown-grace-ms', String(GRACE_MS), '--cancel-grace-ms', String(CANCEL_GRACE_MS),
    ]);
    started.push(server);
    const before = await server.sample({ gc: true });
    row.before = before;
    const clients = Array.from({ length: 4 }, () => new RawClient(server.address));
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    const peak = server.watchRss();
    try {
      const load = sendLoad(clients, new Prng(seed), count, [50, 250], 1, GRACE_MS + AFTER_GRACE_MS + 20_000);
      // Wait until the pool is full and the queue long.
      const until = Date.now() + 20_000;
      let gauges = await server.poolGauges();
      while ((gauges.running < 2 || gauges.queued < 200) && Date.now() < until) {
        await sleep(50);
        gauges = await server.poolGauges();
      }
      row.notes.push(`at SIGTERM: ${gauges.running} running, ${gauges.queued} queued`);
      expect.soft(gauges.queued, 'calls queued when SIGTERM came').toBeGreaterThanOrEqual(200);
      const sigterm = Date.now();
      server.child.kill('SIGTERM');
      // Calls that arrive while the server drains.
      await sleep(300);
      const late = await Promise.all(
        Array.from({ length: 20 }, (_, i) => clients[i % clients.length]!.unary(PATHS.run, runBody({ task: 'spin', input: { ms: 1 } }), { watchdogMs: 10_000 })),
      );
      for (const o of late) tally.add(o);
      expect.soft(late.map((o) => `${statusName(o.code)} ${o.details}`), 'calls made during the drain').toEqual(late.map(() => `UNAVAILABLE ${SHUTTING_DOWN}`));
      judge(await load.outcomes, tally, problems);
      const exit = await server.exited;
      const exitMs = exit.at - sigterm;
      row.peakRssMb = peak.stop();
      row.notes.push(`exited with ${exit.code ?? exit.signal} ${exitMs} ms after SIGTERM (grace ${GRACE_MS} ms; bound ${GRACE_MS + AFTER_GRACE_MS} ms)`);
      expect.soft(exit, 'how the process ended').toMatchObject({ code: 0, signal: null });
      expect.soft(exitMs, 'ms from SIGTERM to exit').toBeLessThanOrEqual(GRACE_MS + AFTER_GRACE_MS);
      const phases = ['not-serving', 'draining', 'aborting', 'closing', 'stopped'].filter((phase) => !server.log().includes(`"phase":"${phase}"`));
      expect.soft(phases, 'drain phases missing from the log').toEqual([]);
    } finally {
      peak.stop();
      for (const client of clients) client.close();
      fill(row, tally);
    }
    expect.soft(problems.slice(0, 10), 'calls that neither completed nor got UNAVAILABLE "server shutting down"').toEqual([]);
    expect.soft(tally.get('HUNG'), 'calls that never ended').toBe(0);
    expect.soft(tally.get('OK'), 'calls that completed during the grace').toBeGreaterThan(0);
    expect.soft(tally.get('UNAVAILABLE'), 'calls refused or aborted').toBeGreaterThan(0);
  }, 120_000);

  it('SIGTERM with calls that all fit in the grace: every one completes and the process exits 0 at once', async () => {
    const GRACE_MS = 15_000;
    const count = 200;
    const row = report.scenario('Shutdown under load', `SIGTERM with ${count} short calls in flight and a ${GRACE_MS / 1000} s grace: all complete`);
    const server = await OffloadProcess.start('shutdown-within-grace', ['--max-queue', '1000', '--shutdown-grace-ms', String(GRACE_MS)]);
    started.push(server);
    row.before = await server.sample({ gc: true });
    const clients = Array.from({ length: 4 }, () => new RawClient(server.address));
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    try {
      const load = sendLoad(clients, new Prng(runSeed(0x5168)), count, [5, 15], 0, 60_000);
      const until = Date.now() + 20_000;
      let gauges = await server.poolGauges();
      while (gauges.queued < 100 && Date.now() < until) {
        await sleep(20);
        gauges = await server.poolGauges();
      }
      row.notes.push(`at SIGTERM: ${gauges.running} running, ${gauges.queued} queued`);
      const sigterm = Date.now();
      server.child.kill('SIGTERM');
      judge(await load.outcomes, tally, problems);
      const exit = await server.exited;
      row.notes.push(`exited with ${exit.code ?? exit.signal} ${exit.at - sigterm} ms after SIGTERM`);
      expect.soft(exit, 'how the process ended').toMatchObject({ code: 0, signal: null });
      // The work left takes about a second on two workers; then at most the flush.
      expect.soft(exit.at - sigterm, 'ms from SIGTERM to exit').toBeLessThan(GRACE_MS);
    } finally {
      for (const client of clients) client.close();
      fill(row, tally);
    }
    expect.soft(problems.slice(0, 10), 'calls in flight at SIGTERM that did not complete').toEqual([]);
    expect.soft(tally.get('OK'), 'calls completed (batch items counted one by one)').toBe(tally.calls);
  }, 120_000);
});
