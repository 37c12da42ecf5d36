import { ABORT_FLAG_INDEX } from '../src/pool/messages.js';

/**
 * An AbortSignal that also watches a shared flag. A CPU-bound task never
 * yields, so the port message that announces a cancel is not delivered until
 * it returns; reading `aborted` (or calling `throwIfAborted`) polls the flag
 * with one atomic load, so a busy loop that checks the signal stops promptly.
 */
export function createCancelSignal(abortFlag: Int32Array): { signal: AbortSignal; abort: () => void } {
  const controller = new AbortController();
  const signal = controller.signal;
  const abort = (): void => {
    if (!signal.aborted) controller.abort(new DOMException('The task was cancelled', 'AbortError'));
  };
  const poll = (): void => {
    if (!controllerAborted() && Atomics.load(abortFlag, ABORT_FLAG_INDEX) !== 0) abort();
  };
  const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
  const controllerAborted = (): boolean => abortedGetter.call(signal) as boolean;
  Object.defineProperty(signal, 'aborted', {
    get: () => {
      poll();
      return controllerAborted();
    },
  });
  const throwIfAborted = signal.throwIfAborted.bind(signal);
  Object.defineProperty(signal, 'throwIfAborted', {
    value: () => {
      poll();
      throwIfAborted();
    },
  });
  return { signal, abort };
}
