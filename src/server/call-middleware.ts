import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { performance } from 'node:perf_hooks';
import { OffloadError, truncate } from '../errors.js';
import type { Logger } from '../log.js';
import { callEndReason } from './call-deadline.js';
import type { CallRecord, RecordContext } from './call-record.js';
import type { TenantOf } from './call-tenant.js';
import type { Drain } from './drain.js';
import type { Metrics } from './metrics.js';

/** Health and reflection are chatty and carry no work: they log at debug. */
const QUIET = /^\/grpc\.(health|reflection)\./;

export interface CallMiddlewareOptions {
  log: Logger;
  metrics: Metrics;
  /** Names the call's tenant, or refuses the call (bad credentials, a bad tenant name). */
  tenantOf: TenantOf;
  drain: Drain;
}

/**
 * The server's only middleware, one layer because nice-grpc runs every layer
 * as an async generator that each streamed message passes through. For each
 * call it: gives the call a record; names its tenant; counts it for the
 * drain or refuses it; puts every failure on the wire as an honest status
 * (OffloadError keeps its code and message, anything unexpected becomes
 * INTERNAL "internal error" with its full text in the log); and when the call
 * finishes writes one log line (method, tenant, task, code, queued_ms,
 * run_ms, cached, peer) and the RPC metrics. Metadata is never logged, so
 * tokens stay out of logs; the tenant is a name, not a secret.
 */
export function createCallMiddleware({ log, metrics, tenantOf, drain }: CallMiddlewareOptions) {
  let calls = 0;
  return async function* callMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, RecordContext>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const startedAt = performance.now();
    const path = call.method.path;
    const record: CallRecord = { call: ++calls };
    const task = (call.request as { task?: unknown } | undefined)?.task;
    if (typeof task === 'string') record.task = truncate(task, 256);
    let code = Status.OK;
    let message: string | undefined;
    try {
      record.tenant = tenantOf(path, context.metadata);
      const release = drain.enter(path);
      try {
        return yield* call.next(call.request, { ...context, record });
      } catch (thrown) {
        // The call is over (cancelled by the client); nice-grpc already knows.
        if (thrown instanceof Error && thrown.name === 'AbortError') throw thrown;
        const error = OffloadError.from(thrown);
        if (error.isServerFault) record.detail = error.detail ?? error.message;
        throw error.toServerError();
      } finally {
        release?.();
      }
    } catch (error) {
      if (error instanceof ServerError) [code, message] = [error.code, error.details];
      else [code, message] = [Status.CANCELLED, 'cancelled by the client'];
      throw error;
    } finally {
      // Whatever the handler made of it, a call whose signal aborted ended by
      // its deadline or its client's cancel, and that is what the client saw.
      if (context.signal.aborted) ({ code, message } = callEndReason(context.metadata));
      const seconds = (performance.now() - startedAt) / 1000;
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
