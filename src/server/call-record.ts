/**
 * What a handler learns about its call that the call log and metrics want:
 * filled in by the compute service, read by the call-log middleware.
 */
export interface CallRecord {
  /** Unique in this process: ties a task's output lines to the call's log line. */
  readonly call: number;
  task?: string;
  queuedMs?: number;
  runMs?: number;
  /** The result came from the cache or an identical request's run. */
  cached?: boolean;
  /** RunBatch: items received. */
  items?: number;
  /** For server faults: the full error (stack included); logged, never sent. */
  detail?: string;
}

/** The CallContext extension that carries the record. */
export interface RecordContext {
  record: CallRecord;
}
