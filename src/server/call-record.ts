import type { TraceCarrier } from '../../bridge/messages.js';

/**
 * What a handler learns about its call that the call log and metrics want:
 * filled in by the compute service, read by the call-log middleware.
 */
export interface CallRecord {
  /** Unique in this process: ties a task's output lines to the call's log line. */
  readonly call: number;
  /**
   * Whose call it is: the tenant of its bearer token, else of its
   * `offload-tenant` metadata, else "default". Set before any ComputeService
   * handler runs (bearer-auth.ts, call-tenant.ts); unset on health
   * and reflection calls without auth.
   */
  tenant?: string;
  task?: string;
  queuedMs?: number;
  runMs?: number;
  /** The result came from the cache or an identical request's run. */
  cached?: boolean;
  /** RunBatch: items received. */
  items?: number;
  /** For server faults: the full error (stack included); logged, never sent. */
  detail?: string;
  /** With tracing on: the call's span, for its runs to carry to their workers. */
  trace?: TraceCarrier;
}

/** The CallContext extension that carries the record. */
export interface RecordContext {
  record: CallRecord;
}
