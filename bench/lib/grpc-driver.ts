/**
 * The load generator's client: a bare @grpc/grpc-js client whose stubs
 * @grpc/proto-loader builds from the .proto at run time, so it measures the
 * wire rather than any client library. Every call carries a deadline.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import type { CallOptions, Client, ClientDuplexStream, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { lazySession, runBatchOverHttp2 } from './batch-over-http2.js';
import type { Driver, DriverFactory, RunOutcome } from './driver.js';
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
    const batchSession = lazySession(address);
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
      runStream: (task, input, onEvent, timeoutMs, signal) =>
        new Promise<void>((resolve, reject) => {
          const call = stub.runStream({ task, input: toValue(input) }, metadata(), { deadline: deadline(timeoutMs) });
          // Cancelled by the caller: grpc-js ends the call with CANCELLED, and the server drops the run.
          const cancel = (): void => call.cancel();
          signal?.addEventListener('abort', cancel, { once: true });
          const settled = (): void => signal?.removeEventListener('abort', cancel);
          call.on('data', (event: WireStreamEvent) => onEvent(event.event ?? 'progress'));
          call.on('error', (error) => {
            settled();
            reject(named(error));
          });
          call.on('end', () => {
            settled();
            resolve();
          });
          if (signal?.aborted) cancel();
        }),
      runBatch: (items, timeoutMs) => {
        // Encoded before the clock starts; see batch-over-http2.ts for why not through grpc-js.
        const { requestSerialize, responseDeserialize } = loadComputePackage().ComputeService.service['RunBatch']!;
        const bodies = items.map((item) => requestSerialize({ id: item.id, task: item.task, input: toValue(item.input) }));
        const decode = (bytes: Buffer) => responseDeserialize(bytes) as WireStreamEvent;
        return runBatchOverHttp2(batchSession.get(), tenant === undefined ? {} : { [TENANT_METADATA]: tenant }, items, bodies, decode, timeoutMs).catch((error: unknown) => {
          throw named(error);
        });
      },
      probe: (timeoutMs) =>
        new Promise<void>((resolve, reject) => {
          stub.listTasks({}, metadata(), { deadline: deadline(timeoutMs) }, (error, response) => {
            if (error) return reject(named(error));
            if (!response || response.tasks.length === 0) return reject(new Error(`${purpose}: ListTasks returned no tasks`));
            resolve();
          });
        }),
      close: () => {
        stub.close();
        batchSession.close();
      },
    };
    return driver;
  };
}
