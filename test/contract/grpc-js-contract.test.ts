/**
 * Contract test from the point of view of a plain JavaScript user: a bare
 * @grpc/grpc-js client built at run time from the .proto with
 * @grpc/proto-loader. Nothing from src/ or src/gen is imported; only the
 * helper that starts a real server in-process.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, loadPackageDefinition, status } from '@grpc/grpc-js';
import type { CallOptions, Client, ClientDuplexStream, ClientReadableStream, ServiceClientConstructor, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoDir, startServer } from '../helpers/start-server.js';

// ---- google.protobuf.Value in proto-loader's object form -------------------

interface WireValue {
  kind?: string;
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: WireStruct;
  listValue?: { values?: WireValue[] };
}
interface WireStruct {
  fields?: Record<string, WireValue>;
}

function toValue(value: unknown): WireValue {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toValue(v)])) } };
}

function fromStruct(struct: WireStruct | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(struct?.fields ?? {}).map(([k, v]) => [k, fromValue(v)]));
}

function fromValue(value: WireValue | undefined | null): unknown {
  // With `oneofs: true` the set member is named by `kind`.
  switch (value?.kind) {
    case 'numberValue': return value.numberValue;
    case 'stringValue': return value.stringValue;
    case 'boolValue': return value.boolValue;
    case 'structValue': return fromStruct(value.structValue);
    case 'listValue': return (value.listValue?.values ?? []).map(fromValue);
    default: return null;
  }
}

// ---- Response shapes (keepCase: false gives camelCase) ---------------------

interface TaskResult { output: WireValue; data: Buffer; queuedMs: number; runMs: number }
interface StreamEvent {
  event?: 'started' | 'progress' | 'result' | 'failure';
  started?: { queuedMs: number };
  progress?: { fraction: number; message: string };
  result?: TaskResult;
}
interface BatchEvent extends StreamEvent { id: string; failure?: { code: number; message: string } }
interface TaskInfo { name: string; description: string; inputSchema: WireStruct }

type Callback<T> = (error: ServiceError | null, response?: T) => void;
type ComputeClient = Client & {
  run(request: object, options: CallOptions, callback: Callback<{ result: TaskResult }>): unknown;
  listTasks(request: object, options: CallOptions, callback: Callback<{ tasks: TaskInfo[] }>): unknown;
  runStream(request: object, options?: CallOptions): ClientReadableStream<StreamEvent>;
  runBatch(options?: CallOptions): ClientDuplexStream<object, BatchEvent>;
};

// ---- Setup ------------------------------------------------------------------

const definition = loadSync('offload/v1/compute.proto', {
  includeDirs: [protoDir],
  keepCase: false,
  longs: String,
  defaults: true,
  oneofs: true,
});
const offload = loadPackageDefinition(definition)['offload'] as { v1: { ComputeService: ServiceClientConstructor } };

let server: Awaited<ReturnType<typeof startServer>>;
let client: ComputeClient;

beforeAll(async () => {
  server = await startServer();
  client = new offload.v1.ComputeService(server.address, credentials.createInsecure()) as unknown as ComputeClient;
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

function run(task: string, input?: unknown, data?: Buffer, options: CallOptions = {}): Promise<TaskResult> {
  const request = { task, input: input === undefined ? undefined : toValue(input), data };
  return new Promise((resolve, reject) => {
    client.run(request, options, (error, response) => (error ? reject(error) : resolve(response!.result)));
  });
}

/** Resolves with the error a call failed with; fails the test if it succeeded. */
async function failure(call: Promise<unknown>): Promise<ServiceError> {
  const error = await call.then(() => expect.fail('call should have failed'), (e: ServiceError) => e);
  return error;
}

function collect<T>(stream: ClientReadableStream<T> | ClientDuplexStream<object, T>): Promise<T[]> {
  const events: T[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (event: T) => events.push(event));
    stream.on('error', reject);
    stream.on('end', () => resolve(events));
  });
}

// ---- Tests ------------------------------------------------------------------

describe('ComputeService through a bare @grpc/grpc-js client', () => {
  it('lists the four bundled tasks with descriptions and input schemas', async () => {
    const { tasks } = await new Promise<{ tasks: TaskInfo[] }>((resolve, reject) =>
      client.listTasks({}, {}, (error, response) => (error ? reject(error) : resolve(response!))),
    );
    const byName = new Map(tasks.map((task) => [task.name, task]));
    for (const name of ['echo', 'spin', 'primes', 'sha256']) {
      expect(byName.get(name)?.description, name).toMatch(/\w/);
      expect(byName.get(name)?.inputSchema, name).toBeDefined();
    }
    const spinSchema = fromStruct(byName.get('spin')?.inputSchema);
    expect(spinSchema).toMatchObject({ type: 'object', properties: { ms: { type: 'integer' } } });
  });

  it('echoes a nested input and the data bytes back unchanged', async () => {
    const input = { name: 'x', n: 1.5, ok: true, none: null, list: [1, 'two', { three: [3] }], nested: { deep: { er: 'yes' } } };
    const data = Buffer.from([0, 1, 2, 254, 255]);
    const result = await run('echo', input, data);
    expect(fromValue(result.output)).toEqual(input);
    expect(Buffer.compare(result.data, data)).toBe(0);
    expect(result.runMs).toBeGreaterThanOrEqual(0);
    expect(result.queuedMs).toBeGreaterThanOrEqual(0);
  });

  it('counts 25 primes below 100', async () => {
    const result = await run('primes', { limit: 100 });
    expect(fromValue(result.output)).toEqual({ count: 25 });
  });

  it('hashes the request data with sha256 exactly as node:crypto does', async () => {
    const data = Buffer.from('offload contract test \u00e9\u00e8 \u{1f600}'.repeat(1000));
    const result = await run('sha256', {}, data);
    expect(fromValue(result.output)).toEqual({ hex: createHash('sha256').update(data).digest('hex') });
  });

  it('streams an optional started event, nondecreasing progress and exactly one final result', async () => {
    const events = await collect(client.runStream({ task: 'spin', input: toValue({ ms: 300, steps: 10 }) }));
    const kinds = events.map((event) => event.event);
    expect(kinds.filter((kind) => kind === 'started').length).toBeLessThanOrEqual(1);
    if (kinds.includes('started')) expect(kinds[0]).toBe('started');
    expect(kinds.filter((kind) => kind === 'result')).toHaveLength(1);
    expect(kinds.at(-1)).toBe('result');

    const fractions = events.flatMap((event) => (event.progress ? [event.progress.fraction] : []));
    expect(fractions.length).toBeGreaterThanOrEqual(3);
    fractions.forEach((fraction, i) => {
      expect(fraction).toBeGreaterThanOrEqual(i === 0 ? 0 : fractions[i - 1]!);
      expect(fraction).toBeLessThanOrEqual(1);
    });
    expect(fromValue(events.at(-1)?.result?.output)).toEqual({ ms: 300 });
  });

  it('runs a batch written over time and gives every item exactly one terminal event', async () => {
    const call = client.runBatch();
    const done = collect(call);
    const items = [
      { id: 'spin', task: 'spin', input: toValue({ ms: 200, steps: 4 }) },
      { id: 'primes', task: 'primes', input: toValue({ limit: 100 }) },
      { id: 'unknown', task: 'no-such-task', input: toValue({}) },
      { id: 'invalid', task: 'spin', input: toValue({ ms: 70000 }) },
    ];
    for (const item of items) {
      call.write(item);
      await sleep(50);
    }
    call.end();
    const events = await done;

    const terminal = new Map<string, BatchEvent>();
    for (const event of events) {
      expect(items.map((item) => item.id)).toContain(event.id);
      // Nothing may follow an item's terminal event.
      expect(terminal.get(event.id), `event after terminal for ${event.id}`).toBeUndefined();
      if (event.event === 'result' || event.event === 'failure') terminal.set(event.id, event);
    }
    expect([...terminal.keys()].sort()).toEqual(items.map((item) => item.id).sort());

    const only = (id: string): BatchEvent => terminal.get(id)!;
    expect(fromValue(only('spin').result?.output)).toEqual({ ms: 200 });
    expect(fromValue(only('primes').result?.output)).toEqual({ count: 25 });
    expect(only('unknown').failure?.code).toBe(status.NOT_FOUND);
    expect(only('invalid').failure?.code).toBe(status.INVALID_ARGUMENT);
    expect(only('invalid').failure?.message).toContain('input.ms');
  });

  it('fails an unknown task with NOT_FOUND', async () => {
    const error = await failure(run('no-such-task', {}));
    expect(error.code).toBe(status.NOT_FOUND);
  });

  it('fails an out-of-range input with INVALID_ARGUMENT naming the field', async () => {
    const error = await failure(run('spin', { ms: 70000 }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain('input.ms must be <= 60000');
  });

  it('fails with DEADLINE_EXCEEDED when the deadline is shorter than the task', async () => {
    const started = Date.now();
    const error = await failure(run('spin', { ms: 2000 }, undefined, { deadline: Date.now() + 200 }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
