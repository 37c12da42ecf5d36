import { createHash, randomBytes } from 'node:crypto';
import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { collect, rejection } from '../helpers/client.js';
import { useSharedServer } from '../helpers/use-server.js';

const t = useSharedServer();

describe('ListTasks', () => {
  it('describes every bundled task with its input schema', async () => {
    const { tasks } = await t.client.listTasks({});
    const names = tasks.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'primes', 'sha256', 'spin']));
    const spin = tasks.find((t) => t.name === 'spin')!;
    expect(spin.description).toMatch(/busy/);
    expect(spin.inputSchema).toMatchObject({ type: 'object', required: ['ms'], properties: { ms: { maximum: 60000 } } });
  });
});

describe('Run', () => {
  it('echoes input and data unchanged', async () => {
    const input = { a: [1, 'two', { three: true }], b: null };
    const { result } = await t.client.run({ task: 'echo', input, data: Buffer.from('bytes') });
    expect(result?.output).toEqual(input);
    expect(Buffer.from(result!.data).toString()).toBe('bytes');
  });

  it('counts primes and reports how long the task queued and ran', async () => {
    const { result } = await t.client.run({ task: 'primes', input: { limit: 1_000_000 } });
    expect(result?.output).toEqual({ count: 78498 });
    expect(result?.runMs).toBeGreaterThan(0);
    expect(result?.queuedMs).toBeGreaterThanOrEqual(0);
  });

  it('hashes data with sha256', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const { result } = await t.client.run({ task: 'sha256', data });
    expect(result?.output).toEqual({ hex: createHash('sha256').update(data).digest('hex') });
  });

  it('hands a task the exact bytes of a large request on every RPC', async () => {
    const data = randomBytes(1024 * 1024 + 3);
    const hex = createHash('sha256').update(data).digest('hex');
    const streamed = await collect(t.client.runStream({ task: 'sha256', data }));
    expect(streamed.at(-1)?.result?.output).toEqual({ hex });
    const items = async function* () {
      yield { id: 'a', task: 'sha256', data };
      yield { id: 'b', task: 'sha256', data: data.subarray(1) };
    };
    const batch = await collect(t.client.runBatch(items()));
    const outputs = Object.fromEntries(batch.filter((e) => e.result).map((e) => [e.id, e.result?.output]));
    expect(outputs).toEqual({ a: { hex }, b: { hex: createHash('sha256').update(data.subarray(1)).digest('hex') } });
  });

  it('burns the CPU for the requested time', async () => {
    const { result } = await t.client.run({ task: 'spin', input: { ms: 50 } });
    expect(result?.output).toEqual({ ms: 50 });
    expect(result?.runMs).toBeGreaterThanOrEqual(50);
  });

  it('answers NOT_FOUND for an unknown task', async () => {
    const error = await rejection(t.client.run({ task: 'nope' }));
    expect(error.code).toBe(Status.NOT_FOUND);
    expect(error.details).toContain('unknown task "nope"');
  });

  it('answers INVALID_ARGUMENT naming the field for input that fails the schema', async () => {
    const error = await rejection(t.client.run({ task: 'spin', input: { ms: 60001 } }));
    expect(error).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'input.ms must be <= 60000' });
    const missing = await rejection(t.client.run({ task: 'primes', input: {} }));
    expect(missing).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'input.limit is required' });
  });
});

describe('RunStream', () => {
  it('sends Started, nondecreasing Progress and exactly one result, last', async () => {
    const events = await collect(t.client.runStream({ task: 'spin', input: { ms: 200, steps: 20 } }));
    expect(events[0]?.started).toBeDefined();
    const fractions = events.filter((e) => e.progress).map((e) => e.progress!.fraction);
    expect(fractions.length).toBeGreaterThanOrEqual(5);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.every((f) => f >= 0 && f <= 1)).toBe(true);
    expect(events.filter((e) => e.result)).toHaveLength(1);
    expect(events.at(-1)?.result?.output).toEqual({ ms: 200 });
  });

  it('reports at least ten progress events while counting primes to a large limit', async () => {
    const events = await collect(t.client.runStream({ task: 'primes', input: { limit: 50_000_000 } }));
    expect(events.filter((e) => e.progress).length).toBeGreaterThanOrEqual(10);
    expect(events.at(-1)?.result?.output).toEqual({ count: 3001134 });
  });

  it('fails the stream with the status of a bad request', async () => {
    const error = await rejection(collect(t.client.runStream({ task: 'spin', input: { ms: 'soon' } })));
    expect(error).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'input.ms must be integer' });
  });
});

describe('RunBatch', () => {
  it('runs every item, tags each event with its id and turns failures into events', async () => {
    async function* items() {
      yield { id: 'spin', task: 'spin', input: { ms: 30, steps: 3 } };
      yield { id: 'primes', task: 'primes', input: { limit: 100 } };
      yield { id: 'missing', task: 'missing' };
      yield { id: 'invalid', task: 'spin', input: { ms: -1 } };
      yield { id: 'echo', task: 'echo', input: 'hi' };
    }
    const events = await collect(t.client.runBatch(items()));
    const terminal = new Map(events.filter((e) => e.result || e.failure).map((e) => [e.id, e]));
    expect(terminal.size).toBe(5);
    expect(terminal.get('spin')?.result?.output).toEqual({ ms: 30 });
    expect(terminal.get('primes')?.result?.output).toEqual({ count: 25 });
    expect(terminal.get('echo')?.result?.output).toBe('hi');
    expect(terminal.get('missing')?.failure).toMatchObject({ code: Status.NOT_FOUND });
    expect(terminal.get('invalid')?.failure).toEqual({ code: Status.INVALID_ARGUMENT, message: 'input.ms must be >= 0' });
    expect(events.some((e) => e.id === 'spin' && e.progress)).toBe(true);
  });

  it('completes a batch of many items sent by a generator', async () => {
    async function* items() {
      for (let i = 0; i < 300; i++) yield { id: `item-${i}`, task: 'primes', input: { limit: 1000 + i } };
    }
    const results = (await collect(t.client.runBatch(items()))).filter((e) => e.result);
    expect(results).toHaveLength(300);
    expect(new Set(results.map((e) => e.id)).size).toBe(300);
  });

  it('admits items only as capacity allows instead of queueing everything it is sent', async () => {
    // Two workers and a queue of 32: a greedy reader would admit nearly all 40 items; the
    // batch window is workers + min(workers, max-queue) = 4.
    async function* items() {
      for (let i = 0; i < 40; i++) yield { id: String(i), task: 'spin', input: { ms: 20, steps: 1 } };
    }
    let maxAdmitted = 0;
    const sampler = setInterval(() => {
      const { running, queued } = t.server.pool.stats;
      maxAdmitted = Math.max(maxAdmitted, running + queued);
    }, 2);
    const results = (await collect(t.client.runBatch(items()))).filter((e) => e.result);
    clearInterval(sampler);
    expect(results).toHaveLength(40);
    expect(maxAdmitted).toBeLessThanOrEqual(4);
  });

  it('ends at once for an empty batch', async () => {
    expect(await collect(t.client.runBatch((async function* () {})()))).toEqual([]);
  });
});
