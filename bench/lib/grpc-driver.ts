/**
 * The load generator's client: a bare @grpc/grpc-js client whose stubs
 * @grpc/proto-loader builds from the .proto at run time, so it measures the
 * wire rather than any client library. Every call carries a deadline.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { CallOptions, Client, ClientDuplexStream, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { BatchItem, BatchOutcome, Driver, DriverFactory, RunOutcome } from './driver.js';
import { channelOptions, fromValue, loadComputePackage, toValue } from './wire.js';
import type { WireStreamEvent, WireTaskInfo, WireTaskResult } from './wire.js';

type Callback<T> = (error: ServiceError | null, response?: T) => void;
export type ComputeStub = Client & {
  run(request: object, options: CallOptions, callback: Callback<{ result?: WireTaskResult | null }>): unknown;
  run(request: object, metadata: Metadata, options: CallOptions, callback: Callback<{ result?: WireTaskResult | null }>): unknown;
  listTasks(request: object, options: CallOptions, callback: Callback<{ tasks: WireTaskInfo[] }>): unknown;
  listTasks(request: object, metadata: Metadata, options: CallOptions, callback: Callback<{ tasks: WireTaskInfo[] }>): unknown;
  runStream(request: object, options?: CallOptions): ClientReadableStream<WireStreamEvent>;
  runStream(request: object, metadata: Metadata, options?: CallOptions): ClientReadableStream<WireStreamEvent>;
  runBatch(options?: CallOptions): ClientDuplexStream<object, WireStreamEvent>;
  runBatch(metadata: Metadata, options?: CallOptions): ClientDuplexStream<object, WireStreamEvent>;
};

export function createStub(address: string): ComputeStub {
  const { ComputeService } = loadComputePackage();
  return new ComputeService(address, credentials.createInsecure(), channelOptions) as unknown as ComputeStub;
}

const deadline = (timeoutMs: number): Date => new Date(Date.now() + timeoutMs);

/** offload's name for the caller's tenant when the server has no auth (src/tenant-name.ts). */
const TENANT_METADATA = 'offload-tenant';

export function grpcDriverFactory(address: string): DriverFactory {
  return (purpose, tenant) => {
    const stub = createStub(address);
    // A fresh Metadata per call, as grpc-js makes one when given none: a call without a tenant costs the same as before.
    const metadata = (): Metadata => {
      const m = new Metadata();
      if (tenant !== undefined) m.set(TENANT_METADATA, tenant);
      return m;
    };
    const named = (error: unknown): Error => {
      const e = error as Partial<ServiceError>;
      return new Error(`${purpose}: ${e.code !== undefined ? `code ${e.code} ` : ''}${e.details ?? e.message ?? String(error)}`);
    };
    const driver: Driver = {
      ready: (timeoutMs) =>
        new Promise((resolve, reject) => stub.waitForReady(deadline(timeoutMs), (error) => (error ? reject(named(error)) : resolve()))),
      run: (task, input, data, timeoutMs) =>
        new Promise<RunOutcome>((resolve, reject) => {
          stub.run({ task, input: toValue(input), data }, metadata(), { deadline: deadline(timeoutMs) }, (error, response) => {
            if (error) return reject(named(error));
            const result = response?.result;
            resolve({ output: fromValue(result?.output), dataBytes: result?.data?.byteLength ?? 0, cached: result?.cached === true });
          });
        }),
      runStream: (task, input, onEvent, timeoutMs) =>
        new Promise<void>((resolve, reject) => {
          const call = stub.runStream({ task, input: toValue(input) }, metadata(), { deadline: deadline(timeoutMs) });
          call.on('data', (event: WireStreamEvent) => onEvent(event.event ?? 'progress'));
          call.on('error', (error) => reject(named(error)));
          call.on('end', () => resolve());
        }),
      runBatch: (items, timeoutMs) => {
        // Encoded before the clock starts, and events read only as far as their id and kind: the load
        // generator shares the server's cores, and decoding every event with proto-loader cost it more
        // per item than the fastest server spends.
        const { requestSerialize, responseDeserialize } = loadComputePackage().ComputeService.service['RunBatch']!;
        const bodies = items.map((item) => requestSerialize({ id: item.id, task: item.task, input: toValue(item.input) }));
        const call = stub.makeBidiStreamRequest(RUN_BATCH, (body: Buffer) => body, (bytes: Buffer) => bytes, metadata(), { deadline: deadline(timeoutMs) });
        return runBatch(call, items, bodies, (bytes) => responseDeserialize(bytes) as WireStreamEvent, named);
      },
      probe: (timeoutMs) =>
        new Promise<void>((resolve, reject) => {
          stub.listTasks({}, metadata(), { deadline: deadline(timeoutMs) }, (error, response) => {
            if (error) return reject(named(error));
            if (!response || response.tasks.length === 0) return reject(new Error(`${purpose}: ListTasks returned no tasks`));
            resolve();
          });
        }),
      close: () => stub.close(),
    };
    return driver;
  };
}

/** What an item of a batch has had: no terminal event yet, one result, one failure, or more than one. */
const enum Seen {
  Nothing,
  Result,
  Failure,
  Several,
}

/**
 * Writes every item, waiting for 'drain' whenever a write is refused, then
 * half-closes; counts each item's terminal events (result or failure) by id.
 * Resolves when the server ends the stream, rejects when the call fails.
 */
function runBatch(
  call: ClientDuplexStream<Buffer, Buffer>,
  items: readonly BatchItem[],
  bodies: readonly Buffer[],
  decode: (bytes: Buffer) => WireStreamEvent,
  named: (error: unknown) => Error,
): Promise<BatchOutcome> {
  return new Promise<BatchOutcome>((resolve, reject) => {
    // Exactly one terminal event per item is the contract.
    const seen = new Map<string, Seen>(items.map((item) => [item.id, Seen.Nothing]));
    const outcome: BatchOutcome = { results: 0, failures: 0, anomalies: 0, events: 0, startedAt: performance.now(), endedAt: 0 };
    let settled = false;
    call.on('data', (bytes: Buffer) => {
      outcome.events++;
      const { id, field } = batchEventHead(bytes);
      if (field !== RESULT && field !== FAILURE) return;
      const before = seen.get(id);
      if (before === undefined) outcome.anomalies++; // an id never sent
      else if (before !== Seen.Nothing) seen.set(id, Seen.Several);
      else if (field === RESULT) seen.set(id, Seen.Result);
      else {
        seen.set(id, Seen.Failure);
        if (outcome.firstFailure === undefined) {
          const { failure } = decode(bytes);
          outcome.firstFailure = `item ${id}: code ${failure?.code ?? '?'} ${failure?.message ?? ''}`;
        }
      }
    });
    call.on('error', (error) => {
      if (settled) return;
      settled = true;
      reject(named(error));
    });
    call.on('end', () => {
      if (settled) return;
      settled = true;
      outcome.endedAt = performance.now();
      for (const state of seen.values()) {
        if (state === Seen.Result) outcome.results++;
        else if (state === Seen.Failure) outcome.failures++;
        else outcome.anomalies++; // no terminal event, or several
      }
      resolve(outcome);
    });
    const write = async (): Promise<void> => {
      outcome.startedAt = performance.now();
      for (const body of bodies) {
        if (settled) return;
        if (!call.write(body)) await once(call, 'drain');
      }
      call.end();
    };
    // A failed write ends in the call's 'error', which rejects above.
    write().catch(() => {});
  });
}

const RUN_BATCH = '/offload.v1.ComputeService/RunBatch';
/** RunBatchResponse's fields: 1 id, then one of 2 started, 3 progress, 4 result, 5 failure. */
const ID = 1;
const RESULT = 4;
const FAILURE = 5;

/** A RunBatchResponse's id and the field number of its event, read off the wire without decoding the rest. */
export function batchEventHead(bytes: Uint8Array): { id: string; field: number } {
  let at = 0;
  let id = '';
  let field = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) varint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else if (wireType === 2) {
      const length = varint();
      if (number === ID) id = Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString('utf8');
      else field = number;
      at += length;
    } else throw new Error(`RunBatchResponse: wire type ${wireType} is not in the contract`);
  }
  return { id, field };
}
