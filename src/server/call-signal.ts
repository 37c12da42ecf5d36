import { OffloadError, Status } from '../errors.js';

export interface CallSignal {
  readonly signal: AbortSignal;
  /**
   * Call it when the handler returns: detaches from the server's signal and
   * cancels whatever the call still has running, since no one will read it.
   */
  dispose(): void;
}

/**
 * A signal for the tasks of one call. It aborts when the call's own signal
 * does (client cancel or deadline; grpc-js has already told the client which)
 * or when the server aborts every call at the end of its shutdown grace.
 */
const CALL_ENDED = new OffloadError(Status.CANCELLED, 'the call has ended');
const CALL_CANCELLED = new OffloadError(Status.CANCELLED, 'the call was cancelled or its deadline passed');

export function linkCallSignal(callSignal: AbortSignal, serverSignal: AbortSignal): CallSignal {
  const controller = new AbortController();
  const fromCall = (): void => controller.abort(CALL_CANCELLED);
  const fromServer = (): void => controller.abort(serverSignal.reason);
  const dispose = (): void => {
    callSignal.removeEventListener('abort', fromCall);
    serverSignal.removeEventListener('abort', fromServer);
    if (!controller.signal.aborted) controller.abort(CALL_ENDED);
  };
  if (callSignal.aborted) fromCall();
  else if (serverSignal.aborted) fromServer();
  else {
    callSignal.addEventListener('abort', fromCall, { once: true });
    serverSignal.addEventListener('abort', fromServer, { once: true });
  }
  return { signal: controller.signal, dispose };
}
