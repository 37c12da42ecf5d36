import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { performance } from 'node:perf_hooks';
import { truncate } from '../errors.js';
import type { Logger } from '../log.js';
import { callEndReason } from './call-deadline.js';
import type { CallRecord, RecordContext } from './call-record.js';
import type { Metrics } from './metrics.js';

/** Health and reflection are chatty and carry no work: they log at debug. */
const QUIET = /^\/grpc\.(health|reflection)\./;

/**
 * The outermost middleware: gives each call a record, and when the call
 * finishes writes one log line (method, tenant, task, code, queued_ms, run_ms,
 * cached, peer) and the RPC metrics. Metadata is never logged, so tokens stay
 * out of logs; the tenant is a name, not a secret.
 */
export function createCallLogMiddleware(log: Logger, metrics: Metrics) {
  let calls = 0;
  return async function* callLogMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, RecordContext>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const startedAt = performance.now();
    const record: CallRecord = { call: ++calls };
    const task = (call.request as { task?: unknown } | undefined)?.task;
    if (typeof task === 'string') record.task = truncate(task, 256);
    let code = Status.OK;
    let message: string | undefined;
    try {
      return yield* call.next(call.request, { ...context, record });
    } catch (error) {
      if (error instanceof ServerError) [code, message] = [error.code, error.details];
      else [code, message] = [Status.CANCELLED, 'cancelled by the client'];
      throw error;
    } finally {
      // Whatever the handler made of it, a call whose signal aborted ended by
      // its deadline or its client's cancel, and that is what the client saw.
      if (context.signal.aborted) ({ code, message } = callEndReason(context.metadata));
      const seconds = (performance.now() - startedAt) / 1000;
      const path = call.method.path;
      metrics.rpcFinished(path, code, seconds);
      const line = {
        method: path,
        call: record.call,
        tenant: record.tenant,
        task: record.task,
        items: record.items,
        code: Status[code],
        queued_ms: round(record.queuedMs),
        run_ms: round(record.runMs),
        cached: record.cached,
        duration_ms: round(seconds * 1000),
        peer: context.peer,
        message,
        detail: record.detail === undefined ? undefined : truncate(record.detail, 8192),
      };
      if (record.detail) log.error(line, 'call failed');
      else if (QUIET.test(path)) log.debug(line, 'call');
      else log.info(line, 'call');
    }
  };
}

function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 1000) / 1000;
}
