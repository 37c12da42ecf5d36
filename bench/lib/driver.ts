/**
 * How a scenario reaches a server. The gRPC driver (grpc-driver.ts) is the one
 * load generator for every gRPC server; the ceiling's driver calls a piscina
 * pool in its own process with no gRPC at all.
 */
export type EventKind = 'started' | 'progress' | 'result' | 'failure';

export interface RunOutcome {
  output: unknown;
  dataBytes: number;
  /** offload's TaskResult.cached: the answer was not computed for this call (cache or a twin's run). */
  cached?: boolean;
}

/** One item of a RunBatch call. */
export interface BatchItem {
  id: string;
  task: string;
  input: unknown;
}

/** How a RunBatch call went, item by item. */
export interface BatchOutcome {
  /** Items that got exactly one terminal event, a result. */
  results: number;
  /** Items that got exactly one terminal event, a failure. */
  failures: number;
  firstFailure?: string;
  /** Items with no terminal event or more than one, and terminal events for ids never sent. */
  anomalies: number;
  /** Every event received (started, progress, result, failure). */
  events: number;
  /** performance.now() at the first item sent and when the stream ended. */
  startedAt: number;
  endedAt: number;
}

export interface Driver {
  /** Resolves once the connection is up, so connecting is never measured. */
  ready(timeoutMs: number): Promise<void>;
  /** One unary Run. */
  run(task: string, input: unknown, data: Uint8Array | undefined, timeoutMs: number): Promise<RunOutcome>;
  /**
   * One RunStream; resolves after the stream ended cleanly. Aborting `signal`
   * cancels the call (the dashboard scenario's streams that outlast it); it
   * then rejects.
   */
  runStream(task: string, input: unknown, onEvent: (kind: EventKind) => void, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * One RunBatch carrying `items`, sent as fast as the stream takes them (a
   * write the stream refuses waits for 'drain'); resolves once the server
   * ended the stream, rejects when the call fails.
   */
  runBatch(items: readonly BatchItem[], timeoutMs: number): Promise<BatchOutcome>;
  /** A cheap call answered by the server's event loop (ListTasks; the ceiling: a turn of its loop). */
  probe(timeoutMs: number): Promise<void>;
  close(): void;
}

/**
 * A fresh driver with its own connection; `purpose` names it in errors.
 * `tenant`, when given, is sent as `offload-tenant` metadata on every call
 * (the fairness scenario's callers); the peers ignore it, as offload does under auth.
 */
export type DriverFactory = (purpose: string, tenant?: string) => Driver;
