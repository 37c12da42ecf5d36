import { isCancelled } from '../bridge/slots.js';

/**
 * An AbortSignal that also watches the task's shared slot state. A CPU-bound
 * task never yields, so a cancel message is not delivered until it returns;
 * reading `aborted` (or calling `throwIfAborted`) polls the slot with one
 * atomic load, so a busy loop that checks the signal stops promptly.
 */
export function createCancelSignal(states: Int32Array, slot: number): { signal: AbortSignal; abort: () => void } {
  const controller = new AbortController();
  const signal = controller.signal;
  const abort = (): void => {
    if (!controllerAborted()) controller.abort(new DOMException('The task was cancelled', 'AbortError'));
  };
  const poll = (): void => {
    if (!controllerAborted() && isCancelled(states, slot)) abort();
  };
  // eslint-disable-next-line @typescript-eslint/unbound-method -- taken off the prototype on purpose, to call on this signal below.
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
  // Made after the cancel (the task read ctx.signal late): its listeners must not wait for a message that has come and gone.
  poll();
  return { signal, abort };
}
