import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/** JSON lines to stdout, one object per event. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'offload' } });
}

/** For embedding and tests: logs nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });
