import type { Span } from '@opentelemetry/api';
import { ServerError, Status } from 'nice-grpc';
import { performance } from 'node:perf_hooks';
import { OffloadError, truncate } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallSpans } from '../telemetry/call-spans.js';
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
  /** With tracing on: a server span per call. */
  spans?: CallSpans;
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
export function createCallScopes(options: CallScopeOptions): OpenCall {
  const counter = { calls: 0 };
  return (path, metadata, peer, request) => new Scope(options, ++counter.calls, path, metadata, peer, request);
}

/** A class, not closures: an open stream holds its scope, and every closure would cost it a few dozen bytes. */
class Scope implements CallScope {
  readonly record: CallRecord;
  readonly refusal: ServerError | undefined;
  readonly #startedAt = performance.now();
  /** Counted by the drain until it finishes. */
  readonly #counted: boolean = false;
  readonly #span: Span | undefined;

  constructor(
    readonly options: CallScopeOptions,
    call: number,
    readonly path: string,
    metadata: MetadataReader,
    readonly peer: string,
    request: unknown,
  ) {
    const record: CallRecord = { call };
    this.record = record;
    this.#span = options.spans?.start(path, metadata);
    if (this.#span) record.trace = options.spans!.carrier(this.#span);
    const task = (request as { task?: unknown } | undefined)?.task;
    if (typeof task === 'string') record.task = truncate(task, 256);
    try {
      record.tenant = options.tenantOf(path, metadata);
      this.#counted = options.drain.enter(path);
    } catch (thrown) {
      this.refusal = toServerError(thrown, record);
    }
  }

  statusOf(thrown: unknown): ServerError {
    return toServerError(thrown, this.record);
  }

  finish(code: Status, message: string | undefined, ended?: OffloadError): void {
    const { record, path, options } = this;
    if (this.#counted) options.drain.leave();
    if (ended) ({ code, message } = ended);
    const seconds = (performance.now() - this.#startedAt) / 1000;
    options.metrics.rpcFinished(path, code, seconds);
    if (this.#span) options.spans!.end(this.#span, code, message, { 'offload.tenant': record.tenant, 'offload.task': record.task, 'offload.cached': record.cached });
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
      peer: this.peer,
      message,
      detail: record.detail === undefined ? undefined : truncate(record.detail, 8192),
    };
    if (record.detail) options.log.error(line, 'call failed');
    else if (QUIET.test(path)) options.log.debug(line, 'call');
    else options.log.info(line, 'call');
  }
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
