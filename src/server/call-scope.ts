import { ServerError, Status } from 'nice-grpc';
import { performance } from 'node:perf_hooks';
import { OffloadError, truncate } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRecord } from './call-record.js';
import type { MetadataReader, TenantOf } from './call-tenant.js';
import type { Drain } from './drain.js';
import type { Metrics } from './metrics.js';

/** Health and reflection are chatty and carry no work: they log at debug. */
const QUIET = /^\/grpc\.(health|reflection)\./;

export interface CallScopeOptions {
  log: Logger;
  metrics: Metrics;
  /** Names the call's tenant, or refuses the call (bad credentials, a bad tenant name). */
  tenantOf: TenantOf;
  drain: Drain;
}

/**
 * What every call gets whoever serves it (the nice-grpc middleware, or
 * offload's own grpc-js handlers for the streaming RPCs): a record, a
 * tenant, a place in the drain count, its failures as honest statuses, and
 * one log line and the RPC metrics when it finishes.
 */
export interface CallScope {
  readonly record: CallRecord;
  /** Why the call is refused before its handler runs (credentials, tenant name, draining); undefined: admitted. */
  readonly refusal: ServerError | undefined;
  /**
   * The status a failure leaves with: an OffloadError keeps its code and
   * message; anything unexpected is INTERNAL "internal error", its full text
   * kept in the record for the log line, never sent.
   */
  statusOf(thrown: unknown): ServerError;
  /**
   * Leaves the drain count and writes the log line and metrics. `ended`: the
   * call's signal aborted, so its deadline or its client's cancel decided how
   * it ended, whatever the handler made of it; that is what the client saw.
   */
  finish(code: Status, message: string | undefined, ended?: OffloadError): void;
}

export type OpenCall = (path: string, metadata: MetadataReader, peer: string, request: unknown) => CallScope;

/** Opens a scope per call. Metadata is never logged, so tokens stay out of logs; the tenant is a name, not a secret. */
export function createCallScopes({ log, metrics, tenantOf, drain }: CallScopeOptions): OpenCall {
  let calls = 0;
  return (path, metadata, peer, request) => {
    const startedAt = performance.now();
    const record: CallRecord = { call: ++calls };
    const task = (request as { task?: unknown } | undefined)?.task;
    if (typeof task === 'string') record.task = truncate(task, 256);
    let refusal: ServerError | undefined;
    let release: (() => void) | undefined;
    try {
      record.tenant = tenantOf(path, metadata);
      release = drain.enter(path);
    } catch (thrown) {
      refusal = toServerError(thrown, record);
    }
    return {
      record,
      refusal,
      statusOf: (thrown) => toServerError(thrown, record),
      finish(code, message, ended) {
        release?.();
        if (ended) ({ code, message } = ended);
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
          peer,
          message,
          detail: record.detail === undefined ? undefined : truncate(record.detail, 8192),
        };
        if (record.detail) log.error(line, 'call failed');
        else if (QUIET.test(path)) log.debug(line, 'call');
        else log.info(line, 'call');
      },
    };
  };
}

function toServerError(thrown: unknown, record: CallRecord): ServerError {
  if (thrown instanceof ServerError) return thrown;
  const error = OffloadError.from(thrown);
  if (error.isServerFault) record.detail = error.detail ?? error.message;
  return error.toServerError();
}

function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 1000) / 1000;
}
