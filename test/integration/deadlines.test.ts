/**
 * A deadline is reported as a deadline: the client's grpc-timeout reaches
 * the server, which ends the work at it and logs and counts DEADLINE_EXCEEDED;
 * a client's cancel stays CANCELLED.
 */
import { Metadata } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcTimeout } from '../../src/client/create-compute-client.js';
import { loadConfig } from '../../src/config.js';
import { createComputeClient, OffloadError, Status, type ComputeClient } from '../../src/index.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { collect, connect } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { Errors } from '../../src/errors.js';

const log = captureLogger('info');
let server: ComputeServer;
let client: ComputeClient;

beforeAll(async () => {
  server = await createComputeServer(loadConfig(['--port', '0', '--workers', '2'], {}), { logger: log.logger });
  client = createComputeClient(server.address, { retry: false });
});
afterAll(async () => {
  client.close();
  await server.close();
});

/** The call-log line of the next call of a method to finish after `seen` lines. */
async function callLine(method: string, seen: number): Promise<Record<string, unknown>> {
  return eventually(() => {
    const line = log.lines.slice(seen).find((l) => l['msg'] === 'call' && l['method'] === `/offload.v1.ComputeService/${method}`);
    if (!line) throw new Error(`no call line for ${method} yet`);
    return line;
  });
}

async function metricValue(name: string, labels: string): Promise<number> {
  const text = await server.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function failure(promise: Promise<unknown>): Promise<OffloadError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof OffloadError)) throw new Error(`expected an OffloadError, got ${String(error)}`);
  return error;
}

describe('a call whose deadline passes', () => {
  it('is DEADLINE_EXCEEDED in the client, the call log, the RPC metrics and the task outcome (Run)', async () => {
    const seen = log.lines.length;
    const error = await failure(client.run('spin', { ms: 10_000 }, { deadline: 300 }));
    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(await callLine('Run', seen)).toMatchObject({ code: 'DEADLINE_EXCEEDED', task: 'spin', message: Errors.deadlinePassed.message });
    expect(await metricValue("offload_rpc_requests_total", `method="/offload.v1.ComputeService/Run",code="DEADLINE_EXCEEDED"`)).toBe(1);
    await eventually(async () => expect(await metricValue('offload_task_duration_seconds_count', 'outcome="DEADLINE_EXCEEDED"')).toBeGreaterThanOrEqual(1));
  });

  it('is DEADLINE_EXCEEDED in the call log for RunStream and RunBatch too', async () => {
    const seen = log.lines.length;
    const stream = async () => {
      for await (const _ of client.runStream('spin', { ms: 10_000 }, { deadline: 300 }));
    };
    expect((await failure(stream())).code).toBe(Status.DEADLINE_EXCEEDED);
    expect(await callLine('RunStream', seen)).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    const batch = async () => {
      for await (const _ of client.runBatch([{ id: 'a', task: 'spin', input: { ms: 10_000 } }], { deadline: 300 }));
    };
    expect((await failure(batch())).code).toBe(Status.DEADLINE_EXCEEDED);
    expect(await callLine('RunBatch', seen)).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
  });

  it('is ended by the server itself when the client sends grpc-timeout and never cancels', async () => {
    // A bare nice-grpc client has no deadline timer of its own: only the server can end this call.
    const bare = connect(server.address);
    try {
      const started = Date.now();
      const error = await bare.client.run({ task: 'spin', input: { ms: 10_000 } }, { metadata: Metadata({ 'grpc-timeout': '300m' }) }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
      expect(Date.now() - started).toBeLessThan(3000);
      // The task stopped too: both workers are free for the next call at once.
      await eventually(() => expect(server.pool.stats).toMatchObject({ running: 0, queued: 0 }));
    } finally {
      bare.close();
    }
  });

  it('is ended by the server on RunStream too, and logged DEADLINE_EXCEEDED with its task stopped', async () => {
    // RunStream has offload's own grpc-js handler, which reads the deadline from grpc-js's call.
    const bare = connect(server.address);
    try {
      const seen = log.lines.length;
      const started = Date.now();
      const error = await collect(bare.client.runStream({ task: 'spin', input: { ms: 10_000 } }, { metadata: Metadata({ 'grpc-timeout': '300m' }) })).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await callLine('RunStream', seen)).toMatchObject({ code: 'DEADLINE_EXCEEDED', message: Errors.deadlinePassed.message });
      await eventually(() => expect(server.pool.stats).toMatchObject({ running: 0, queued: 0 }));
    } finally {
      bare.close();
    }
  });
});

describe('a call its client cancels', () => {
  it('stays CANCELLED in the call log, well before its deadline', async () => {
    const seen = log.lines.length;
    const error = await failure(client.run('spin', { ms: 10_000 }, { deadline: 60_000, signal: AbortSignal.timeout(300) }));
    expect(error.code).toBe(Status.CANCELLED);
    expect(await callLine('Run', seen)).toMatchObject({ code: 'CANCELLED', message: Errors.callCancelled.message });
  });
});

describe('grpcTimeout', () => {
  it.each([
    [0, '1m'],
    [1.2, '2m'],
    [30_000, '30000m'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [1e14, '27777778H'],
  ])('writes %s ms as %s', (ms, text) => {
    expect(grpcTimeout(ms)).toBe(text);
  });
});
