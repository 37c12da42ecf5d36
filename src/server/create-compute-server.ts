/**
 * Assembles a running offload server: task discovery on the pool, the
 * catalogue, the gRPC server with its middleware, and an orderly close.
 */
import { createServer } from 'nice-grpc';
import { findTaskFiles } from '../catalog/find-task-files.js';
import { TaskCatalog } from '../catalog/task-catalog.js';
import type { Config } from '../config.js';
import { OffloadError, Status } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';
import { silentLogger, type Logger } from '../log.js';
import { TaskPool } from '../pool/task-pool.js';
import { bundledTasksDir } from '../pool/worker-entry.js';
import { createComputeService } from './compute-service.js';
import { createErrorMiddleware, logServerFault } from './error-middleware.js';

export interface ComputeServer {
  readonly host: string;
  readonly port: number;
  /** "host:port", ready for a client's target. */
  readonly address: string;
  readonly catalog: TaskCatalog;
  readonly pool: TaskPool;
  /** Cancels what still runs, stops listening and closes the pool. */
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: Logger;
}

export async function createComputeServer(config: Config, options: ServerOptions = {}): Promise<ComputeServer> {
  const log = options.logger ?? silentLogger;
  const files = [await findTaskFiles(bundledTasksDir), ...(await Promise.all(config.taskDirs.map(findTaskFiles)))].flat();
  const pool = new TaskPool({
    workers: config.workers,
    maxQueue: config.maxQueue,
    cancelGraceMs: config.cancelGraceMs,
    taskFiles: files,
  });
  const stopping = new AbortController();
  try {
    const catalog = new TaskCatalog(await pool.describe(files));
    const server = createServer({
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
    }).use(createErrorMiddleware(log));
    server.add(
      ComputeServiceDefinition,
      createComputeService({
        catalog,
        pool,
        serverSignal: stopping.signal,
        batchWindow: config.workers + Math.min(config.workers, config.maxQueue),
        onServerFault: (error) => logServerFault(log, '/offload.v1.ComputeService/RunBatch', OffloadError.from(error)),
      }),
    );
    const host = config.host;
    const port = await server.listen(`${host.includes(':') ? `[${host}]` : host}:${config.port}`);
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return {
      host,
      port,
      address,
      catalog,
      pool,
      async close() {
        stopping.abort(new OffloadError(Status.UNAVAILABLE, 'server shutting down'));
        server.forceShutdown();
        await pool.close();
      },
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}
