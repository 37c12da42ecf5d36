import { Errors, type OffloadError } from '../errors.js';

export interface CallSignal {
  readonly signal: AbortSignal;
  /** Call it when the handler returns: cancels whatever the call still has running, since no one will read it. */
  dispose(): void;
}


/**
 * A signal for the tasks of one streaming call (RunBatch). It aborts when the
 * call's own signal does, with `endReason()` (its deadline passed or its
 * client cancelled), or when the handler ends. The server's shutdown signal
 * reaches each run through the pool, not through here.
 */
export function linkCallSignal(callSignal: AbortSignal, endReason: () => OffloadError): CallSignal {
  const controller = new AbortController();
  const fromCall = (): void => controller.abort(endReason());
  if (callSignal.aborted) fromCall();
  else callSignal.addEventListener('abort', fromCall, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      callSignal.removeEventListener('abort', fromCall);
      if (!controller.signal.aborted) controller.abort(Errors.callEnded);
    },
  };
}
