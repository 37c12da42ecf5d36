/**
 * Before anything is measured, every gRPC server must honour the contract the
 * load generator relies on: the four RPCs, the four tasks, their outputs.
 * A peer that answers wrongly would make its figures meaningless.
 */
import { deepStrictEqual } from 'node:assert/strict';
import type { ServiceError } from '@grpc/grpc-js';
import { createStub } from './grpc-driver.js';
import type { ComputeStub } from './grpc-driver.js';
import { withTimeout } from './stats.js';
import { fromValue, toValue } from './wire.js';
import type { WireStreamEvent, WireTaskResult } from './wire.js';

const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

function run(stub: ComputeStub, task: string, input: unknown, data?: Buffer): Promise<WireTaskResult> {
  return new Promise((resolve, reject) =>
    stub.run({ task, input: toValue(input), data }, { deadline: new Date(Date.now() + 10_000) }, (error, response) =>
      error ? reject(error) : resolve(response?.result ?? {}),
    ),
  );
}

function collect(call: NodeJS.ReadableStream): Promise<WireStreamEvent[]> {
  const events: WireStreamEvent[] = [];
  return new Promise((resolve, reject) => {
    call.on('data', (event: WireStreamEvent) => events.push(event));
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

/** Throws, naming the server and the broken promise, when the server does not honour the contract. */
export async function verifyServer(name: string, address: string, timeoutMs: number): Promise<void> {
  const stub = createStub(address);
  const check = async (): Promise<void> => {
    const { tasks } = await new Promise<{ tasks: { name: string }[] }>((resolve, reject) =>
      stub.listTasks({}, { deadline: new Date(Date.now() + 10_000) }, (error, response) => (error ? reject(error) : resolve(response!))),
    );
    deepStrictEqual(tasks.map((t) => t.name).sort(), ['echo', 'primes', 'sha256', 'spin'], 'ListTasks names the four bundled tasks');

    const echoed = await run(stub, 'echo', { n: 1, s: 'x', list: [true, null] }, Buffer.from([1, 2, 3]));
    deepStrictEqual(fromValue(echoed.output), { n: 1, s: 'x', list: [true, null] }, 'echo returns its input');
    deepStrictEqual([...(echoed.data ?? [])], [1, 2, 3], 'echo returns its data');
    deepStrictEqual(fromValue((await run(stub, 'primes', { limit: 100 })).output), { count: 25 }, 'primes below 100');
    deepStrictEqual(fromValue((await run(stub, 'spin', { ms: 5 })).output), { ms: 5 }, 'spin outputs {ms}');
    deepStrictEqual(fromValue((await run(stub, 'sha256', {}, Buffer.from('abc'))).output), { hex: ABC_SHA256 }, 'sha256 of "abc"');

    const events = await collect(stub.runStream({ task: 'spin', input: toValue({ ms: 30, steps: 3 }) }, { deadline: new Date(Date.now() + 10_000) }));
    const kinds = events.map((e) => e.event);
    deepStrictEqual(kinds.at(-1), 'result', 'RunStream ends with a result');
    deepStrictEqual(kinds.filter((k) => k === 'result').length, 1, 'RunStream sends one result');
    const fractions = events.flatMap((e) => (e.progress ? [e.progress.fraction] : []));
    if (fractions.length === 0 || fractions.some((f, i) => i > 0 && f < fractions[i - 1]!)) {
      throw new Error(`RunStream progress must be present and nondecreasing; got ${JSON.stringify(fractions)}`);
    }

    const batch = stub.runBatch({ deadline: new Date(Date.now() + 10_000) });
    const batchEvents = collect(batch);
    batch.write({ id: 'a', task: 'echo', input: toValue({ a: 1 }) });
    batch.write({ id: 'b', task: 'primes', input: toValue({ limit: 100 }) });
    batch.write({ id: 'c', task: 'no-such-task' });
    batch.end();
    const byId = new Map<string, WireStreamEvent>();
    for (const event of await batchEvents) if (event.event === 'result' || event.event === 'failure') byId.set(event.id ?? '', event);
    deepStrictEqual(fromValue(byId.get('a')?.result?.output), { a: 1 }, 'RunBatch item a');
    deepStrictEqual(fromValue(byId.get('b')?.result?.output), { count: 25 }, 'RunBatch item b');
    deepStrictEqual(byId.get('c')?.failure?.code, 5, 'RunBatch unknown task fails its item with NOT_FOUND');

    const unknown = await run(stub, 'no-such-task', {}).then(() => undefined, (error: ServiceError) => error.code);
    deepStrictEqual(unknown, 5, 'Run of an unknown task is NOT_FOUND');
  };
  try {
    await withTimeout(check(), timeoutMs, `${name} contract check`);
  } catch (error) {
    throw new Error(`${name} at ${address} fails the contract check: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    stub.close();
  }
}
