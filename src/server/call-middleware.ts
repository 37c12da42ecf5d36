import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { callEndReason } from './call-deadline.js';
import type { RecordContext } from './call-record.js';
import type { OpenCall } from './call-scope.js';

/**
 * The nice-grpc middleware of the calls nice-grpc serves: each call in a
 * scope (./call-scope.ts). One layer because nice-grpc runs every layer as an
 * async generator that each streamed message passes through.
 */
export function createCallMiddleware(openCall: OpenCall) {
  return async function* callMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, RecordContext>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const scope = openCall(call.method.path, context.metadata, context.peer, call.request);
    let code = Status.OK;
    let message: string | undefined;
    try {
      if (scope.refusal) throw scope.refusal;
      try {
        return yield* call.next(call.request, { ...context, record: scope.record });
      } catch (thrown) {
        // The call is over (cancelled by the client); nice-grpc already knows.
        if (thrown instanceof Error && thrown.name === 'AbortError') throw thrown;
        throw scope.statusOf(thrown);
      }
    } catch (error) {
      if (error instanceof ServerError) [code, message] = [error.code, error.details];
      else [code, message] = [Status.CANCELLED, 'cancelled by the client'];
      throw error;
    } finally {
      scope.finish(code, message, context.signal.aborted ? callEndReason(context.metadata) : undefined);
    }
  };
}
