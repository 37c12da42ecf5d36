import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

/** JSON lines to stdout, one object per event; human-readable when stdout is a terminal. */
export function createLogger(level: LogLevel): Logger {
  const options = { level, base: { service: 'offload' } };
  return process.stdout.isTTY ? pino(options, pretty({ sync: true, colorize: true })) : pino(options);
}

/** For embedding and tests: logs nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });
