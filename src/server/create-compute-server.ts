/**
 * Assembles a running offload server: task discovery on the pool, the
 * catalogue, the gRPC server with health, reflection and middleware, metrics,
 * and the ordered shutdown that lets in-flight calls finish.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelOptions, UntypedHandleCall } from '@grpc/grpc-js';
import { findTaskFiles } from '../catalog/find-task-files.js';
import { TaskCatalog } from '../catalog/task-catalog.js';
import type { Config } from '../config.js';
import { Errors } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { TaskPool, type SettledRun } from '../pool/task-pool.js';
import { queueDepths } from '../pool/tenant-load.js';
import type { CallSpans } from '../telemetry/call-spans.js';
import { bundledTasksDir } from '../pool/worker-entry.js';
import { createBearerAuth } from './bearer-auth.js';
import { recordDeadline } from './call-deadline.js';
import { createCallMiddleware } from './call-middleware.js';
import { createCallScopes } from './call-scope.js';
import { createTaskOutputLog } from './task-output-log.js';
import { tenantFromMetadata } from './call-tenant.js';
import { createComputeService } from './compute-service.js';
import { createGrpcServer } from './grpc-server.js';
import { RUN_STREAM_PATH, serveRunStream } from './serve-run-stream.js';
import { createStartTask } from './start-task.js';
import { JobStore } from './job-store.js';
import { ResultCache } from './result-cache.js';
import { SharedWork } from './shared-work.js';
import { createDrain } from './drain.js';
import { addHealth } from './health.js';
import { createMetrics, type Metrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { addReflection } from './reflection.js';
import { ServedComputeServiceDefinition } from './served-definition.js';
import { createServerCredentials } from './server-credentials.js';
import { withReceiveWindows } from './flow-control.js';
import { batchWindow } from './batch-window.js';
import { coalesceServerWrites } from './coalesced-writes.js';
import { toListenError } from './listen-error.js';
import { RunHistory } from '../dashboard/run-history.js';
import { createDashboard } from '../dashboard/create-dashboard.js';

export { ListenError } from './listen-error.js';

/** How long closing connections may take to flush the last responses. */
const FLUSH_MS = 2000;

export interface ComputeServer {
  readonly host: string;
  readonly port: number;
  /** "host:port", ready for a client's target. */
  readonly address: string;
  /** The metrics endpoint's port, when --metrics-port was given. */
  readonly metricsPort: number | undefined;
  readonly catalog: TaskCatalog;
  readonly pool: TaskPool;
  readonly metrics: Metrics;
  /**
   * Drains: health NOT_SERVING, new calls refused with UNAVAILABLE, in-flight
   * calls get the shutdown grace to finish, the rest are aborted with
   * UNAVAILABLE, then the server and the pool close. Safe to call twice.
   */
  shutdown(): Promise<void>;
  /** Stops at once: cancels everything, closes the server and the pool. */
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: Logger;
  /** With tracing on (telemetry/start-tracing.ts): every call gets a server span from these. */
  spans?: CallSpans;
}

export async function createComputeServer(config: Config, options: ServerOptions = {}): Promise<ComputeServer> {
  const log = options.logger ?? silentLogger;
  const startedAt = Date.now();
  coalesceServerWrites();
  const metrics = createMetrics();
  const files = [await findTaskFiles(bundledTasksDir), ...(await Promise.all(config.taskDirs.map(findTaskFiles)))].flat();
  // Room for the response's own fields around a result's output and data.
  const maxResultBytes = config.maxMessageBytes - 1024;
  const history = config.dashboard ? new RunHistory() : undefined;
  const settled = history ? (run: SettledRun): void => (metrics.taskSettled(run), history.settled(run)) : metrics.taskSettled;
  const pool = new TaskPool({
    workers: config.workers,
    maxQueue: config.maxQueue,
    maxQueuePerTenant: config.maxQueuePerTenant,
    tenantWeights: config.tenantWeights,
    maxQueueMs: config.maxQueueMs,
    cancelGraceMs: config.cancelGraceMs,
    workerMaxMemoryMb: config.workerMaxMemoryMb,
    workerNice: config.workerNice,
    crashLimit: config.crashLimit,
    crashCooldownMs: config.crashCooldownMs,
    priorityAgingMs: config.priorityAgingMs,
    // The message limit is the server's: a result that cannot be sent fails its job.
    checkResult: (task, bytes) => (bytes > maxResultBytes ? Errors.resultTooLarge(task, bytes, maxResultBytes) : undefined),
    onStrayError: (detail) => log.warn({ detail }, 'a task threw after its run had ended (a timer or promise it left behind)'),
    onTaskOutput: createTaskOutputLog(log),
    taskFiles: files,
    tracing: options.spans !== undefined,
    onSettled: options.spans?.alsoQueueSpans(settled) ?? settled,
    onWorkerRestart: () => {
      metrics.workerRestarted();
      history?.workerRestarted();
      log.warn('a worker stopped and was replaced');
    },
  });
  metrics.watchPool(() => pool.stats, () => queueDepths(pool.view().jobs));
  const drain = createDrain();
  const jobs = new JobStore({ retentionMs: config.jobRetentionMs, maxJobs: config.maxJobs, maxBytes: config.jobStoreMb * 2 ** 20 });
  metrics.watchJobs(() => jobs.countByState());
  const cache = config.cacheMb > 0 ? new ResultCache({ maxBytes: config.cacheMb * 2 ** 20, ttlMs: config.cacheTtlMs }) : undefined;
  const shared = cache && new SharedWork(cache, metrics.cacheLookup);
  if (cache) metrics.watchCache(cache);
  let metricsServer: MetricsServer | undefined;
  // Set once the gRPC server exists: a start that fails after it listens (the metrics port taken) must close it, or the process never exits.
  let grpcServer: { forceShutdown(): void } | undefined;
  try {
    const catalog = new TaskCatalog(await pool.describe(files));
    // Health says SERVING once the pool is up: every worker, not only the one that described the tasks.
    await pool.ready();
    const openCall = createCallScopes({
      log,
      metrics,
      tenantOf: config.auth.length > 0 ? createBearerAuth(config.auth) : tenantFromMetadata,
      drain,
      spans: options.spans,
    });
    const server = createGrpcServer(
      {
        'grpc.max_receive_message_length': config.maxMessageBytes,
        'grpc.max_send_message_length': config.maxMessageBytes,
        'grpc.keepalive_time_ms': config.keepaliveMs,
        'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs,
        'grpc.keepalive_permit_without_calls': 1,
        ...(config.maxConnectionAgeMs > 0
          ? { 'grpc.max_connection_age_ms': config.maxConnectionAgeMs, 'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs }
          : {}),
        // Channelz (grpc-js's per-call tracking) has no consumer here.
        'grpc.enable_channelz': 0,
        // grpc-js's Server takes its interceptors among its options.
        ...({ interceptors: [recordDeadline(new Set([RUN_STREAM_PATH]))] } as ChannelOptions),
      },
      createCallMiddleware(openCall),
    );
    grpcServer = server;
    const startTask = createStartTask({ catalog, pool, isDraining: () => drain.draining, maxRunMs: config.maxRunMs, shared, spans: options.spans });
    server.addWithDirect(
      ServedComputeServiceDefinition,
      createComputeService({
        catalog,
        startTask,
        batchWindow: batchWindow(config.workers, config.maxQueue, (task) => pool.expectedRunMs(task)),
        heartbeatMs: config.heartbeatMs,
        onServerFault: (id, error) => log.error({ method: '/offload.v1.ComputeService/RunBatch', id, detail: error.detail }, error.message),
        jobs,
        holdForDrain: drain.hold,
      }),
      { runStream: serveRunStream({ openCall, startTask, heartbeatMs: config.heartbeatMs }) as UntypedHandleCall },
    );
    const health = addHealth(server);
    addReflection(server);

    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const port = await withReceiveWindows(() => server.listen(`${host}:${config.port}`, createServerCredentials(config.tls))).catch((error: unknown) => {
      throw toListenError(error, 'grpc', `${host}:${config.port}`);
    });
    if (config.metricsPort !== undefined) {
      const metricsPort = config.metricsPort;
      const dashboard = history && createDashboard(config, { pool, history, drain, startedAt });
      metricsServer = await startMetricsServer(metrics.registry, config.host, metricsPort, dashboard).catch((error: unknown) => {
        throw toListenError(error, 'metrics', `${host}:${metricsPort}`);
      });
    }
    health.serving();

    let shuttingDown: Promise<void> | undefined;
    const shutdown = async (): Promise<void> => {
      log.info({ phase: 'not-serving' }, 'shutdown: health is NOT_SERVING and new calls get UNAVAILABLE');
      health.notServing();
      drain.start();
      log.info({ phase: 'draining', calls: drain.active, grace_ms: config.shutdownGraceMs }, `shutdown: waiting up to ${config.shutdownGraceMs} ms for ${drain.active} calls and jobs`);
      if (!(await drain.waitIdle(config.shutdownGraceMs))) {
        log.warn({ phase: 'aborting', calls: drain.active }, `shutdown: grace over, aborting ${drain.active} calls and jobs with UNAVAILABLE`);
        pool.cancelAll(Errors.shuttingDown);
        // Queued tasks leave at once; running ones stop or lose their worker within the cancel grace.
        await drain.waitIdle(config.cancelGraceMs + 1000);
      }
      log.info({ phase: 'closing' }, 'shutdown: closing the server and the worker pool');
      // Let finished calls flush their last messages and status; only streams
      // that never end on their own (health Watch) are cut after the bound.
      await Promise.race([server.shutdown().catch(() => {}), sleep(FLUSH_MS)]);
      server.forceShutdown();
      await Promise.all([pool.close(), metricsServer?.close()]);
      log.info({ phase: 'stopped' }, 'shutdown: stopped');
    };

    return {
      host: config.host,
      port,
      address: `${host}:${port}`,
      metricsPort: metricsServer?.port,
      catalog,
      pool,
      metrics,
      shutdown: () => (shuttingDown ??= shutdown()),
      async close() {
        health.notServing();
        drain.start();
        pool.cancelAll(Errors.shuttingDown);
        server.forceShutdown();
        await Promise.all([pool.close(), metricsServer?.close()]);
      },
    };
  } catch (error) {
    grpcServer?.forceShutdown();
    await Promise.all([pool.close(), metricsServer?.close()]);
    throw error;
  }
}
