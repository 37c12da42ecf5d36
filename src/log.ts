import { format } from 'node:util';
import { logVerbosity, setLogger, setLogVerbosity } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * JSON lines to stdout, one object per event; human-readable when stdout is
 * a terminal. Writes are asynchronous: under load, lines written while a
 * write is in flight go out together instead of one syscall per call. pino
 * flushes what is left when the process exits.
 */
export function createLogger(level: LogLevel): Logger {
  const options = { level, base: { service: 'offload' } };
  if (process.stdout.isTTY) return pino(options, pretty({ sync: true, colorize: true }));
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/** For embedding and tests: logs nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Sends grpc-js's own log into `log` at debug level. Left alone, grpc-js
 * writes "E ..." lines to stderr, such as "No address added out of total 1
 * resolved" just before offload's own message about a port in use, so stderr
 * no longer held one clear line. grpc-js's logger is process-wide: the server
 * process calls this; the library does not, so an application that embeds
 * offload keeps whatever it set.
 */
export function routeGrpcLogs(log: Logger): void {
  const write =
    (severity: 'error' | 'info' | 'debug') =>
    (...args: unknown[]): void =>
      log.debug({ component: 'grpc-js', severity }, format(...args));
  setLogger({ error: write('error'), info: write('info'), debug: write('debug') });
  // Below debug every line would be dropped anyway; NONE spares grpc-js formatting them.
  setLogVerbosity(log.isLevelEnabled('debug') ? logVerbosity.DEBUG : logVerbosity.NONE);
}
