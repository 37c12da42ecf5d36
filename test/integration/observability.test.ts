import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { fixtureTasksDir } from '../helpers/start-server.js';
import { eventually } from '../helpers/eventually.js';

let server: ComputeServer;
let client: ComputeClient;
let close: () => void;
let log: ReturnType<typeof captureLogger>;

async function start(flags: string[]): Promise<void> {
  log = captureLogger();
  server = await createComputeServer(loadConfig(['--port', '0', '--workers', '2', '--tasks', fixtureTasksDir, ...flags], {}), {
    logger: log.logger,
  });
  ({ client, close } = connect(server.address));
}
afterEach(async () => {
  close();
  await server.close();
});

async function scrape(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('serves every documented metric from one registry at /metrics', async () => {
    await start(['--metrics-port', '0']);
    await client.run({ task: 'spin', input: { ms: 5 } });
    const text = await scrape();
    for (const name of [
      'offload_queue_depth',
      'offload_tasks_running',
      'offload_task_duration_seconds_bucket',
      'offload_task_queue_seconds_bucket',
      'offload_worker_restarts_total',
      'offload_workers_ready',
      'offload_jobs{state="queued"}',
      'offload_rpc_requests_total',
      'offload_rpc_duration_seconds_bucket',
      'nodejs_eventloop_lag_seconds',
      'process_cpu_seconds_total',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('moves under load: calls, task durations, queue depth and worker restarts', async () => {
    await start(['--metrics-port', '0', '--workers', '1']);
    const calls = Array.from({ length: 4 }, () => client.run({ task: 'spin', input: { ms: 100 } }));
    // Admitted at once, but running only once the worker has picked the first one up.
    await eventually(() => {
      expect(server.pool.stats.running).toBe(1);
      expect(server.pool.stats.queued).toBeGreaterThan(0);
    });
    const busy = await scrape();
    expect(sample(busy, 'offload_tasks_running')).toBe(1);
    expect(sample(busy, 'offload_queue_depth{tenant="default",priority="normal"}')).toBeGreaterThan(0);
    await Promise.all(calls);
    await rejection(client.run({ task: 'fixture.exit' }));
    await rejection(client.run({ task: 'nope' }));
    const after = await scrape();
    expect(sample(after, 'offload_rpc_requests_total{method="/offload.v1.ComputeService/Run",code="OK"}')).toBe(4);
    expect(sample(after, 'offload_rpc_requests_total{method="/offload.v1.ComputeService/Run",code="NOT_FOUND"}')).toBe(1);
    expect(sample(after, 'offload_task_duration_seconds_count{task="spin",outcome="OK"}')).toBe(4);
    expect(sample(after, 'offload_task_queue_seconds_count{task="spin",tenant="default"}')).toBe(4);
    expect(sample(after, 'offload_worker_restarts_total')).toBe(1);
    // The crashed worker's replacement counts once it has started.
    await eventually(async () => expect(sample(await scrape(), 'offload_workers_ready')).toBe(1));
    // Nothing waits: no tenant has a queue depth series.
    expect(after.split('\n').filter((line) => line.startsWith('offload_queue_depth{'))).toEqual([]);
  });

  it('answers 404 off the metrics path and the dashboard', async () => {
    await start(['--metrics-port', '0']);
    const response = await fetch(`http://127.0.0.1:${server.metricsPort}/nope`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('not found; try GET /metrics, or GET / for the dashboard\n');
  });
});

describe('call logs', () => {
  it('writes one line per finished call with method, task, code, timings and peer', async () => {
    await start([]);
    await client.run({ task: 'spin', input: { ms: 20 } });
    await rejection(client.run({ task: 'spin', input: { ms: -1 } }));
    const calls = log.lines.filter((l) => l['msg'] === 'call' || l['msg'] === 'call failed');
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ method: '/offload.v1.ComputeService/Run', task: 'spin', code: 'OK' });
    expect(calls[0]!['queued_ms']).toBeGreaterThanOrEqual(0);
    expect(calls[0]!['run_ms']).toBeGreaterThanOrEqual(20);
    expect(calls[0]!['peer']).toMatch(/127\.0\.0\.1/);
    expect(calls[1]).toMatchObject({ task: 'spin', code: 'INVALID_ARGUMENT', message: 'input.ms must be >= 0' });
  });

  it('logs a task failure with its stack for the operator while the client sees only the message', async () => {
    await start([]);
    const error = await rejection(client.run({ task: 'fixture.throws', input: { message: 'kaput' } }));
    expect(error.details).toBe('task fixture.throws failed: kaput');
    const failed = log.lines.find((l) => l['msg'] === 'call failed');
    expect(failed).toMatchObject({ code: 'INTERNAL', task: 'fixture.throws' });
    expect(String(failed!['detail'])).toMatch(/Error: kaput\n\s+at /);
  });
});

describe('heartbeats', () => {
  it('repeat the latest progress on a stream that would otherwise stay silent', async () => {
    await start(['--heartbeat-ms', '100']);
    const events = await collect(client.runStream({ task: 'fixture.wait', input: { ms: 1000 } }));
    const fractions = events.filter((e) => e.progress).map((e) => e.progress!.fraction);
    // The task itself reports once (halfway); everything else is a heartbeat.
    expect(fractions.length).toBeGreaterThanOrEqual(4);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(events.at(-1)?.result?.output).toEqual({ ms: 1000 });
  });

  it('keep a batch with an item in flight talking', async () => {
    await start(['--heartbeat-ms', '100']);
    async function* items() {
      yield { id: 'slow', task: 'fixture.wait', input: { ms: 1000 } };
    }
    const events = await collect(client.runBatch(items()));
    expect(events.filter((e) => e.id === 'slow' && e.progress).length).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)).toMatchObject({ id: 'slow', result: { output: { ms: 1000 } } });
  });
});
