/**
 * The ceiling: the same tasks on a bare piscina pool in this process, with no
 * gRPC. The harness starts it as a child process (so its CPU and memory are
 * measured like a server's) and asks it over IPC to run each scenario; the
 * scenarios are the very code the gRPC servers are measured with, driving
 * the pool directly. Its "server CPU" therefore includes its own driver.
 *
 *   node --import tsx bench/peers/ceiling/main.ts --workers 2
 */
import { performance } from 'node:perf_hooks';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BatchOutcome, Driver, DriverFactory } from '../../lib/driver.js';
import { runScenario } from '../../lib/scenarios.js';
import type { ScenarioName, ScenarioParams, ScenarioResult } from '../../lib/scenarios.js';
import type { CeilingReply, CeilingRun } from './worker.js';

export interface CeilingRequest {
  id: number;
  scenario: ScenarioName;
  params: ScenarioParams;
  cores: number;
  workers: number;
}
export type CeilingMessage =
  | { type: 'ready'; pid: number }
  | { type: 'result'; id: number; result: ScenarioResult }
  | { type: 'error'; id: number; message: string };

/** The ceiling's RunBatch: this many items in flight on the pool at once, as the plain peer's window. */
const BATCH_WINDOW = 64;

const flag = process.argv.indexOf('--workers');
const workers = flag >= 0 ? Number(process.argv[flag + 1]) : 2;

// Workers inherit this process's --import tsx, so they can load worker.ts.
const pool = new Piscina<CeilingRun, CeilingReply>({
  filename: new URL('./worker.ts', import.meta.url).href,
  minThreads: workers,
  maxThreads: workers,
  idleTimeout: Number.MAX_SAFE_INTEGER,
});

const driver: Driver = {
  ready: async () => {},
  async run(task, input, data) {
    // A request's bytes arrive in a buffer of their own; copy, then transfer it to the worker.
    const bytes = data && data.byteLength > 0 ? new Uint8Array(data) : undefined;
    const reply = await pool.run({ task, input, data: bytes }, bytes ? { transferList: [bytes.buffer] } : {});
    return { output: reply.output, dataBytes: reply.data?.byteLength ?? 0 };
  },
  async runStream(task, input, onEvent) {
    const { port1, port2 } = new MessageChannel();
    const deliver = (message: unknown): void => onEvent(message === 'started' ? 'started' : 'progress');
    port1.on('message', deliver);
    try {
      await pool.run({ task, input, port: port2 }, { transferList: [port2] });
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) deliver(m.message);
      onEvent('result');
    } finally {
      port1.close();
    }
  },
  // The ceiling's RunBatch: the items straight onto the pool, BATCH_WINDOW at a time; no events but the outcome.
  async runBatch(items) {
    const outcome: BatchOutcome = { results: 0, failures: 0, anomalies: 0, events: 0, startedAt: performance.now(), endedAt: 0 };
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          await pool.run({ task: item.task, input: item.input });
          outcome.results++;
        } catch (error) {
          outcome.failures++;
          outcome.firstFailure ??= `item ${item.id}: ${error instanceof Error ? error.message : String(error)}`;
        }
        outcome.events++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_WINDOW, items.length) }, lane));
    outcome.endedAt = performance.now();
    return outcome;
  },
  // The ceiling's "ListTasks": one turn of this process's event loop.
  probe: () => new Promise<void>((resolve) => setImmediate(resolve)),
  close: () => {},
};
const drivers: DriverFactory = () => driver;

const send = (message: CeilingMessage): void => {
  process.send?.(message);
};

process.on('message', (request: CeilingRequest) => {
  runScenario(request.scenario, request.params, { drivers, pid: process.pid, cores: request.cores, workers: request.workers, measureLoadgen: false }).then(
    (result) => send({ type: 'result', id: request.id, result }),
    (error: unknown) => send({ type: 'error', id: request.id, message: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => {
  void pool.destroy().finally(() => process.exit(0));
});

await Promise.all(Array.from({ length: workers }, () => pool.run({ task: 'echo', input: null })));
console.log(JSON.stringify({ msg: `ceiling ready (in-process piscina pool, ${workers} workers)`, pid: process.pid }));
send({ type: 'ready', pid: process.pid });
