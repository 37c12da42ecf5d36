/**
 * The inline peer: what a newcomer writes. A plain @grpc/grpc-js server,
 * stubs from the .proto at run time, every task computed right on the main
 * thread (so a running task blocks every other call). RunBatch runs its items
 * one after another. Same tasks as offload (the compiled bundled modules).
 *
 *   node --import tsx bench/peers/inline/server.ts [--port 0]
 * prints `listening on HOST:PORT` once ready; SIGTERM stops it.
 */
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { TaskDefinition } from '../../../workers/task.js';
import { loadBundledTasks, plainContext, splitReturn, withDefaults } from '../../lib/tasks.js';
import { CallError, catalogueOf, grpcError, servePeer } from '../../lib/peer-server.js';
import { fromValue, toValue } from '../../lib/wire.js';
import type { WireRunRequest, WireStreamEvent, WireTaskResult } from '../../lib/wire.js';

const portFlag = process.argv.indexOf('--port');
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 0;

const tasks = await loadBundledTasks();

function lookup(name: string): TaskDefinition {
  const task = tasks.get(name);
  if (!task) throw new CallError(status.NOT_FOUND, `unknown task "${name}"`);
  return task;
}

/** Runs a task to the end on this thread; `onProgress` sees every report. */
async function execute(request: WireRunRequest, onProgress?: (fraction: number, message: string) => void): Promise<WireTaskResult> {
  const task = lookup(request.task);
  const started = performance.now();
  const data = request.data ?? new Uint8Array(0);
  try {
    const returned = await task.run(withDefaults(task, fromValue(request.input)), plainContext(data, onProgress));
    const { output, data: bytes } = splitReturn(returned);
    return { output: toValue(output), data: bytes ?? Buffer.alloc(0), queuedMs: 0, runMs: performance.now() - started };
  } catch (error) {
    throw new CallError(status.INTERNAL, `task ${request.task} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const catalogue = catalogueOf(tasks);

const service: UntypedServiceImplementation = {
  run(call: ServerUnaryCall<WireRunRequest, unknown>, callback: sendUnaryData<unknown>) {
    execute(call.request).then(
      (result) => callback(null, { result }),
      (error: unknown) => callback(grpcError(error)),
    );
  },

  async runStream(call: ServerWritableStream<WireRunRequest, WireStreamEvent>) {
    try {
      lookup(call.request.task);
      call.write({ started: { queuedMs: 0 } });
      const result = await execute(call.request, (fraction, message) => call.write({ progress: { fraction, message } }));
      call.write({ result });
      call.end();
    } catch (error) {
      call.destroy(Object.assign(new Error(grpcError(error).details), grpcError(error)));
    }
  },

  runBatch(call: ServerDuplexStream<WireRunRequest, WireStreamEvent>) {
    // One item after another, in arrival order. (Not `for await (… of call)`: ending that
    // loop destroys the duplex stream, and with it the events still being written.)
    let queue = Promise.resolve();
    const runItem = async (item: WireRunRequest): Promise<void> => {
      const id = item.id ?? '';
      try {
        lookup(item.task);
        call.write({ id, started: { queuedMs: 0 } });
        const result = await execute(item, (fraction, message) => call.write({ id, progress: { fraction, message } }));
        call.write({ id, result });
      } catch (error) {
        const { code, details } = grpcError(error);
        call.write({ id, failure: { code, message: details } });
      }
    };
    call.on('data', (item: WireRunRequest) => {
      queue = queue.then(() => runItem(item));
    });
    call.on('end', () => {
      void queue.then(() => call.end());
    });
  },

  listTasks(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
    callback(null, catalogue);
  },
};

await servePeer('inline peer', port, service, { tasks: [...tasks.keys()] });
