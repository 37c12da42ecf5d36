import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

/** Lines are gathered up to this many bytes before a write... */
const BATCH_BYTES = 4096;
/** ...or for at most this long. */
const BATCH_MS = 100;

/**
 * JSON lines to stdout, one object per event; human-readable when stdout is
 * a terminal. Writes are asynchronous and batched: a write per call line cost
 * about a tenth of the event loop's time under load (bench/notes.md), so
 * lines go out 4 KiB at a time, and at least every 100 ms. pino flushes what
 * is left when the process exits.
 */
export function createLogger(level: LogLevel): Logger {
  const options = { level, base: { service: 'offload' } };
  if (process.stdout.isTTY) return pino(options, pretty({ sync: true, colorize: true }));
  const destination = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  // sonic-boom keeps the length of what it holds in _len; flushing nothing would still cost a write.
  const state = destination as unknown as { destroyed: boolean; _len: number };
  const flush = (): void => {
    if (!state.destroyed && state._len > 0) destination.flush();
  };
  setInterval(flush, BATCH_MS).unref();
  return pino(options, destination);
}

/** For embedding and tests: logs nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });
