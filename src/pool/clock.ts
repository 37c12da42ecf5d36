/**
 * Time as the pool sees it, injectable so tests of scheduling (queue waits,
 * run limits, stealing, the cancel grace) advance it by hand instead of
 * sleeping.
 */
export interface Clock {
  /** ms since the epoch, with fractions. */
  now(): number;
  /** Calls `fn` once after `ms`; the timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

export interface Timer {
  readonly __timer: unique symbol;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref() as unknown as Timer,
  clearTimeout: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
};
