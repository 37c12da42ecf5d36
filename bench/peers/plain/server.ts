/**
 * The plain peer (issue 16): what offload adds is measured against it. A
 * plain @grpc/grpc-js server, stubs from the .proto at run time, handing
 * every task to a piscina pool of 2 threads (the ceiling's worker,
 * ../ceiling/worker.ts): no validation beyond knowing the task's name, no
 * logs, no metrics, no queue bound, no cancellation.
 *
 * - Run: one pool run.
 * - RunStream: started (when a worker takes the task), progress (posted by
 *   the worker on a MessagePort of the run's own), result.
 * - RunBatch: items run concurrently through the pool, at most WINDOW in
 *   flight; reading stops while the window is full or the response side
 *   asks to drain, so a fast client is held back by HTTP/2 flow control.
 *   Every item's events are written as they come, tagged with its id.
 * - ListTasks: the bundled tasks' catalogue.
 *
 *   node --import tsx bench/peers/plain/server.ts [--port 0] [--workers 2]
 * prints `listening on HOST:PORT` once ready; SIGTERM stops it.
 */
import { performance } from 'node:perf_hooks';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { status } from '@grpc/grpc-js';
import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { Piscina } from 'piscina';
import type { CeilingReply, CeilingRun } from '../ceiling/worker.js';
import { loadBundledTasks } from '../../lib/tasks.js';
import { CallError, catalogueOf, grpcError as wireError, servePeer } from '../../lib/peer-server.js';
import { fromValue, toValue } from '../../lib/wire.js';
import type { WireRunRequest, WireStreamEvent, WireTaskResult } from '../../lib/wire.js';

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const port = flag('--port', 0);
const workers = flag('--workers', 2);
/** RunBatch items of one call in flight at most. */
const WINDOW = 64;

// The catalogue only: the tasks run in the workers.
const tasks = await loadBundledTasks();
const catalogue = catalogueOf(tasks);

// Workers inherit this process's --import tsx, so they can load the ceiling's worker.ts.
const pool = new Piscina<CeilingRun, CeilingReply>({
  filename: new URL('../ceiling/worker.ts', import.meta.url).href,
  minThreads: workers,
  maxThreads: workers,
  idleTimeout: Number.MAX_SAFE_INTEGER,
});

type EventFields = Omit<WireStreamEvent, 'id' | 'event'>;

/** The one check made here: a name the pool knows (NOT_FOUND otherwise, as offload answers). */
function known(task: string): void {
  if (!tasks.has(task)) throw new CallError(status.NOT_FOUND, `unknown task "${task}"`);
}

/** What a worker gets: the input as plain JSON, and the bytes (if any) in a buffer of their own, transferred. */
function toRun(request: WireRunRequest): { run: CeilingRun; transferList: TransferListItem[] } {
  // grpc-js's bytes may be a view into a larger buffer: copy, then hand the copy over.
  const data = request.data && request.data.byteLength > 0 ? new Uint8Array(request.data) : undefined;
  return { run: { task: request.task, input: fromValue(request.input), data }, transferList: data ? [data.buffer] : [] };
}

const toResult = (reply: CeilingReply, startedAt: number): WireTaskResult => ({
  output: toValue(reply.output),
  data: reply.data ?? Buffer.alloc(0),
  queuedMs: 0,
  runMs: performance.now() - startedAt,
});

const internal = (task: string, error: unknown): CallError =>
  error instanceof CallError ? error : new CallError(status.INTERNAL, `task ${task} failed: ${error instanceof Error ? error.message : String(error)}`);

/** One pool run with its events: started and progress as the worker posts them on the run's port, then the result. */
async function runWithEvents(request: WireRunRequest, onEvent: (fields: EventFields) => void): Promise<WireTaskResult> {
  known(request.task);
  const { run, transferList } = toRun(request);
  const { port1, port2 } = new MessageChannel();
  const submittedAt = performance.now();
  let startedAt = submittedAt;
  const deliver = (message: unknown): void => {
    if (message === 'started') {
      startedAt = performance.now();
      onEvent({ started: { queuedMs: startedAt - submittedAt } });
    } else {
      onEvent({ progress: message as { fraction: number; message: string } });
    }
  };
  port1.on('message', deliver);
  try {
    const reply = await pool.run({ ...run, port: port2 }, { transferList: [port2, ...transferList] });
    // Whatever the worker posted before returning and the loop has not delivered yet.
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) deliver(m.message);
    return { ...toResult(reply, startedAt), queuedMs: startedAt - submittedAt };
  } catch (error) {
    throw internal(request.task, error);
  } finally {
    port1.close();
  }
}

const grpcError = (error: unknown): { code: status; details: string } => wireError(error instanceof CallError ? error : internal('?', error));

const service: UntypedServiceImplementation = {
  run(call: ServerUnaryCall<WireRunRequest, unknown>, callback: sendUnaryData<unknown>) {
    const request = call.request;
    try {
      known(request.task);
    } catch (error) {
      return callback(grpcError(error));
    }
    const { run, transferList } = toRun(request);
    const startedAt = performance.now();
    pool.run(run, { transferList }).then(
      (reply) => callback(null, { result: toResult(reply, startedAt) }),
      (error: unknown) => callback(grpcError(internal(request.task, error))),
    );
  },

  runStream(call: ServerWritableStream<WireRunRequest, WireStreamEvent>) {
    runWithEvents(call.request, (fields) => call.write(fields)).then(
      (result) => {
        call.write({ result });
        call.end();
      },
      (error: unknown) => call.destroy(Object.assign(new Error(grpcError(error).details), grpcError(error))),
    );
  },

  runBatch(call: ServerDuplexStream<WireRunRequest, WireStreamEvent>) {
    let inFlight = 0;
    let writeBlocked = false;
    let inputEnded = false;
    // Read while the window has room and the response side is not asking to drain.
    const flow = (): void => {
      if (inFlight >= WINDOW || writeBlocked) call.pause();
      else call.resume();
    };
    const write = (event: WireStreamEvent): void => {
      if (!call.write(event)) {
        writeBlocked = true;
        flow();
      }
    };
    call.on('drain', () => {
      writeBlocked = false;
      flow();
    });
    const finish = (): void => {
      if (inputEnded && inFlight === 0) call.end();
    };
    call.on('data', (item: WireRunRequest) => {
      const id = item.id ?? '';
      inFlight++;
      flow();
      runWithEvents(item, (fields) => write({ id, ...fields }))
        .then(
          (result) => write({ id, result }),
          (error: unknown) => {
            const { code, details } = grpcError(error);
            write({ id, failure: { code, message: details } });
          },
        )
        .finally(() => {
          inFlight--;
          flow();
          finish();
        });
    });
    call.on('end', () => {
      inputEnded = true;
      finish();
    });
  },

  listTasks(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
    callback(null, catalogue);
  },
};

// Every worker up and its tasks loaded before the first call.
await Promise.all(Array.from({ length: workers }, () => pool.run({ task: 'echo', input: null })));

await servePeer('plain peer', port, service, { workers, tasks: [...tasks.keys()] }, () => pool.destroy());
