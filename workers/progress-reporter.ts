import type { MessagePort } from 'node:worker_threads';
import type { PortMessage } from '../src/pool/messages.js';

/** The least time between two progress messages from one task. */
const MIN_INTERVAL_MS = 1;

/**
 * Turns a task's `ctx.progress` calls into port messages: the fraction is
 * clamped to [0, 1] and never goes backwards, repeats are dropped, and a task
 * that reports in a tight loop sends at most one message per millisecond. The
 * latest report is never lost: `flush` sends it before the result.
 */
export function createProgressReporter(port: MessagePort, enabled: boolean) {
  let sentFraction = -1;
  let sentMessage = '';
  let fraction = 0;
  let message = '';
  let lastSentAt = 0;

  const send = (): void => {
    if (fraction === sentFraction && message === sentMessage) return;
    sentFraction = fraction;
    sentMessage = message;
    lastSentAt = performance.now();
    port.postMessage({ type: 'progress', fraction, message } satisfies PortMessage);
  };

  return {
    progress(next: number, note?: string): void {
      if (!enabled) return;
      if (typeof next === 'number' && !Number.isNaN(next)) {
        fraction = Math.max(fraction, Math.min(1, Math.max(0, next)));
      }
      if (note !== undefined) message = String(note).slice(0, 1024);
      if (performance.now() - lastSentAt >= MIN_INTERVAL_MS) send();
    },
    flush(): void {
      if (enabled && sentFraction !== -1) send();
    },
  };
}
