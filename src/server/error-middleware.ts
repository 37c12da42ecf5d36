import type { CallContext, ServerMiddlewareCall } from 'nice-grpc';
import { OffloadError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Puts every failure on the wire as an honest status: OffloadError keeps its
 * code and message; anything unexpected becomes INTERNAL "internal error" for
 * the client and a full log line (stack included) for the operator.
 */
export function createErrorMiddleware(log: Logger) {
  return async function* errorMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    try {
      return yield* call.next(call.request, context);
    } catch (thrown) {
      // The call is over (cancelled by the client); nice-grpc already knows.
      if (thrown instanceof Error && thrown.name === 'AbortError') throw thrown;
      const error = OffloadError.from(thrown);
      if (error.isServerFault) logServerFault(log, call.method.path, error);
      throw error.toServerError();
    }
  };
}

export function logServerFault(log: Logger, method: string, error: OffloadError): void {
  log.error({ method, code: error.code, detail: error.detail }, error.message);
}
