/**
 * `offload serve`: runs the server until SIGTERM or SIGINT. Bad
 * configuration or task modules exit with code 2 and one exact message.
 */
import { ConfigError, loadConfig, USAGE, type Config } from '../config.js';
import { TaskLoadError } from '../catalog/task-catalog.js';
import { createLogger, routeGrpcLogs } from '../log.js';
import { createComputeServer, ListenError } from '../server/create-compute-server.js';

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
  const server = await createComputeServer(config, { logger: log }).catch(fail);
  if (!server) return;
  const bracketed = server.host.includes(':') ? `[${server.host}]` : server.host;
  const metrics = server.metricsPort === undefined ? '' : `; metrics on http://${bracketed}:${server.metricsPort}/metrics`;
  const heap = config.workerMaxMemoryMb > 0 ? `; worker heap limit ${config.workerMaxMemoryMb} MB each` : '';
  const from = heap && config.memoryLimitMb !== undefined ? ` (container memory limit ${config.memoryLimitMb} MB)` : '';
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
    },
    `offload listening on ${server.address} with ${config.workers} ${config.workers === 1 ? 'worker' : 'workers'}; tasks: ${server.catalog.names.join(', ')}${metrics}${heap}${from}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutdown: starting');
    server.shutdown().then(
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

