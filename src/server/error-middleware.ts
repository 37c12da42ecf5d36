import type { CallContext, ServerMiddlewareCall } from 'nice-grpc';
import { OffloadError } from '../errors.js';
import type { RecordContext } from './call-record.js';

/**
 * Puts every failure on the wire as an honest status: OffloadError keeps its
 * code and message; anything unexpected becomes INTERNAL "internal error" for
 * the client, and its full text goes into the call record for the log.
 */
export async function* errorMiddleware<Request, Response>(
  call: ServerMiddlewareCall<Request, Response>,
  context: CallContext & RecordContext,
): AsyncGenerator<Response, Response | void, undefined> {
  try {
    return yield* call.next(call.request, context);
  } catch (thrown) {
    // The call is over (cancelled by the client); nice-grpc already knows.
    if (thrown instanceof Error && thrown.name === 'AbortError') throw thrown;
    const error = OffloadError.from(thrown);
    if (error.isServerFault) context.record.detail = error.detail ?? error.message;
    throw error.toServerError();
  }
}
