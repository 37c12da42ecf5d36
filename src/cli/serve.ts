/**
 * `offload serve`: runs the server until SIGTERM or SIGINT. Bad
 * configuration or task modules exit with code 2 and one exact message.
 */
import { ConfigError, loadConfig, USAGE, type Config } from '../config.js';
import { TaskLoadError } from '../catalog/task-catalog.js';
import { createLogger, routeGrpcLogs, type Logger } from '../log.js';
import { createComputeServer, ListenError } from '../server/create-compute-server.js';
import { startTracing, type Tracing } from '../telemetry/start-tracing.js';

/** The least time the last spans get to leave at shutdown, even when the calls used up the grace. */
const TRACE_FLUSH_MIN_MS = 1000;

export async function serve(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(argv);
  } catch (error) {
    return fail(error);
  }
  const log = createLogger(config.logLevel);
  routeGrpcLogs(log);
  const tracing = config.tracing ? await startTracing(log).catch(fail) : undefined;
  if (config.tracing && !tracing) return;
  const server = await createComputeServer(config, { logger: log, spans: tracing?.spans }).catch(fail);
  if (!server) {
    await flushTraces(tracing, log, TRACE_FLUSH_MIN_MS);
    return;
  }
  const bracketed = server.host.includes(':') ? `[${server.host}]` : server.host;
  const metrics = server.metricsPort === undefined ? '' : `; metrics on http://${bracketed}:${server.metricsPort}/metrics${config.dashboard ? `, dashboard on http://${bracketed}:${server.metricsPort}/` : ''}`;
  const heap = config.workerMaxMemoryMb > 0 ? `; worker heap limit ${config.workerMaxMemoryMb} MB each` : '';
  const from = heap && config.memoryLimitMb !== undefined ? ` (container memory limit ${config.memoryLimitMb} MB)` : '';
  const traces = tracing ? '; tracing with OpenTelemetry (OTEL_* variables)' : '';
  log.info(
    {
      host: server.host,
      port: server.port,
      metricsPort: server.metricsPort,
      workers: config.workers,
      maxQueue: config.maxQueue,
      workerMaxMemoryMb: config.workerMaxMemoryMb,
      memoryLimitMb: config.memoryLimitMb,
      tasks: server.catalog.names,
      tracing: config.tracing,
    },
    `offload listening on ${server.address} with ${config.workers} ${config.workers === 1 ? 'worker' : 'workers'}; tasks: ${server.catalog.names.join(', ')}${metrics}${heap}${from}${traces}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const graceEnds = Date.now() + config.shutdownGraceMs;
    log.info({ signal }, 'shutdown: starting');
    server
      .shutdown()
      // Within the shutdown grace, what is left of it after the calls: the orchestrator is told to wait that long.
      .then(() => flushTraces(tracing, log, Math.max(TRACE_FLUSH_MIN_MS, graceEnds - Date.now())))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Sends the spans still buffered, for at most `withinMs`: a collector that is down must not hold the exit. */
async function flushTraces(tracing: Tracing | undefined, log: Logger, withinMs: number): Promise<void> {
  if (!tracing) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, withinMs, 'late')));
  const flushed = await Promise.race([tracing.shutdown().then(() => 'sent' as const), late]).catch((error: unknown) => {
    log.warn({ err: error }, 'shutdown: traces could not be sent');
    return 'failed' as const;
  });
  clearTimeout(timer);
  if (flushed === 'late') log.warn(`shutdown: traces still unsent after ${Math.round(withinMs)} ms; exiting without them`);
}

/** The setting to change when an address cannot be bound. */
function listenFlag(error: ListenError): string {
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') return ' (--host)';
  if (error.code === 'EADDRINUSE' || error.code === 'EACCES') return error.endpoint === 'grpc' ? ' (--port)' : ' (--metrics-port)';
  return '';
}

function fail(error: unknown): undefined {
  if (error instanceof ConfigError || error instanceof TaskLoadError) {
    process.stderr.write(`offload: ${error.message}\n`);
    process.exitCode = 2;
  } else if (error instanceof ListenError) {
    // Exit 1, not 2: the flags are valid; the machine refused them (a port another process holds, say).
    process.stderr.write(`offload: ${error.message}${listenFlag(error)}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`offload: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
  return undefined;
}

