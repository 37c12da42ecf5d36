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
