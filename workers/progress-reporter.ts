import type { ProgressReport } from '../bridge/messages.js';

/** The least time between two progress messages from one task. */
const MIN_INTERVAL_MS = 1;

/**
 * Turns a task's `ctx.progress` calls into events: the fraction is clamped to
 * [0, 1] and never goes backwards, repeats are dropped, and a task that
 * reports in a tight loop sends at most one event per millisecond. The
 * latest report is never lost: `latest()` goes into the reply, because an
 * event posted just before it may arrive after it.
 */
export function createProgressReporter(send: ((report: ProgressReport) => void) | undefined) {
  let sentFraction = -1;
  let sentMessage = '';
  let fraction = 0;
  let message = '';
  let reported = false;
  let lastSentAt = 0;
  /** The run's span, with tracing on: it sees every report, as clamped, and samples them itself. */
  let observer: { progress(fraction: number, message: string): void } | undefined;

  return {
    progress(this: void, next: number, note?: string): void {
      if (!send && !observer) return;
      if (typeof next === 'number' && !Number.isNaN(next)) fraction = Math.max(fraction, Math.min(1, Math.max(0, next)));
      if (note !== undefined) message = String(note).slice(0, 1024);
      observer?.progress(fraction, message);
      if (!send) return;
      reported = true;
      if (fraction === sentFraction && message === sentMessage) return;
      const now = performance.now();
      if (now - lastSentAt < MIN_INTERVAL_MS) return;
      lastSentAt = now;
      sentFraction = fraction;
      sentMessage = message;
      send({ fraction, message });
    },
    observe(this: void, target: typeof observer): void {
      observer = target;
    },
    latest(): ProgressReport | undefined {
      return reported ? { fraction, message } : undefined;
    },
  };
}
