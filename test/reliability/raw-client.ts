/**
 * A generic @grpc/grpc-js client that sends request bodies as raw bytes and
 * hands back raw response bytes, as a hostile or careless client would. Every
 * call resolves with an Outcome (never rejects): its status, its latency and
 * what it received. A call with no status after `watchdogMs` is recorded as
 * HUNG and cancelled, so a hang fails an assertion instead of the whole run.
 */
import { performance } from 'node:perf_hooks';
import { Client, credentials, Metadata, status, type CallOptions, type ClientDuplexStream, type ClientReadableStream } from '@grpc/grpc-js';

/** The pseudo status of a call that never ended. */
export const HUNG = -1;

export interface Outcome {
  code: number;
  details: string;
  /** From the call's start to its status. */
  ms: number;
  /** Response messages (kept only with `keep`). */
  messages: Buffer[];
  /** Response messages received, kept or not. */
  count: number;
}

export interface CallOpts {
  /** gRPC deadline in ms from now; none when undefined. */
  deadlineMs?: number;
  /** Record HUNG and cancel after this long; default 30 s. */
  watchdogMs?: number;
  /** Keep response messages in the outcome. */
  keep?: boolean;
  /** Told about every response message. */
  onMessage?: (message: Buffer, index: number) => void;
  /** Cancels the call from the client when it aborts. */
  signal?: AbortSignal;
}

export function statusName(code: number): string {
  if (code === HUNG) return 'HUNG';
  return (status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** A status name back to its code (UNKNOWN for a name gRPC does not have). */
export function statusCode(name: string): number {
  const code = (status as unknown as Record<string, unknown>)[name];
  return typeof code === 'number' ? code : status.UNKNOWN;
}

const identity = (bytes: Buffer): Buffer => bytes;

type Done = (code: number, details: string) => void;
type Received = (message: Buffer) => void;

export class RawClient {
  readonly #client: Client;

  constructor(address: string, options: Record<string, string | number> = {}) {
    this.#client = new Client(address, credentials.createInsecure(), {
      // A connection of its own: grpc-js otherwise shares one between clients with equal options,
      // and one call that breaks a connection would take every other client's calls with it.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      // grpc-js's retry buffer does work that grows with a client stream on every write: the
      // 100 000-item RunBatch measured this client (15 s of CPU for 30 000 items) more than offload.
      'grpc.enable_retries': 0,
      ...options,
    });
  }

  close(): void {
    this.#client.close();
  }

  unary(path: string, body: Buffer, opts: CallOpts = {}): Promise<Outcome> {
    return track(opts, (callOptions, done, received) => {
      const call = this.#client.makeUnaryRequest(path, identity, identity, body, new Metadata(), callOptions, (error, response) => {
        if (error) return done(error.code, error.details);
        if (response) received(response);
        done(status.OK, '');
      });
      return () => call.cancel();
    });
  }

  serverStream(path: string, body: Buffer, opts: CallOpts & { onStream?: (stream: ClientReadableStream<Buffer>) => void } = {}): Promise<Outcome> {
    return track(opts, (callOptions, done, received) => {
      const stream = this.#client.makeServerStreamRequest(path, identity, identity, body, new Metadata(), callOptions);
      stream.on('data', received);
      stream.on('error', () => {});
      stream.on('status', (s: { code: number; details: string }) => done(s.code, s.details));
      opts.onStream?.(stream);
      return () => stream.cancel();
    });
  }

  /**
   * A bidi call: writes every body (waiting for 'drain' when grpc-js asks),
   * half-closes, and reads until the status.
   */
  bidi(
    path: string,
    bodies: Iterable<Buffer> | AsyncIterable<Buffer>,
    opts: CallOpts & { onStream?: (stream: ClientDuplexStream<Buffer, Buffer>) => void } = {},
  ): Promise<Outcome> {
    return track(opts, (callOptions, done, received) => {
      const stream = this.#client.makeBidiStreamRequest(path, identity, identity, new Metadata(), callOptions);
      let ended = false;
      stream.on('data', received);
      stream.on('error', () => {});
      stream.on('status', (s: { code: number; details: string }) => {
        ended = true;
        done(s.code, s.details);
      });
      opts.onStream?.(stream);
      void (async () => {
        try {
          for await (const body of bodies) {
            if (ended) return;
            if (!stream.write(body)) {
              await new Promise<void>((resolve) => {
                const go = (): void => {
                  stream.off('drain', go);
                  stream.off('status', go);
                  resolve();
                };
                stream.on('drain', go);
                stream.on('status', go);
              });
            }
          }
          if (!ended) stream.end();
        } catch {
          stream.cancel();
        }
      })();
      return () => stream.cancel();
    });
  }
}

function track(opts: CallOpts, start: (callOptions: CallOptions, done: Done, received: Received) => () => void): Promise<Outcome> {
  const began = performance.now();
  const watchdogMs = opts.watchdogMs ?? 30_000;
  const outcome: Outcome = { code: HUNG, details: '', ms: 0, messages: [], count: 0 };
  return new Promise((resolve) => {
    let settled = false;
    let cancel: (() => void) | undefined;
    const onAbort = (): void => cancel?.();
    const done: Done = (code, details) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      opts.signal?.removeEventListener('abort', onAbort);
      Object.assign(outcome, { code, details, ms: performance.now() - began });
      resolve(outcome);
    };
    const received: Received = (message) => {
      if (opts.keep) outcome.messages.push(message);
      opts.onMessage?.(message, outcome.count);
      outcome.count++;
    };
    const watchdog = setTimeout(() => {
      done(HUNG, `no status after ${watchdogMs} ms`);
      cancel?.();
    }, watchdogMs);
    cancel = start(opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs }, done, received);
    if (opts.signal?.aborted) cancel();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Counts outcomes by status name and keeps the worst latency. */
export class Tally {
  readonly counts = new Map<string, number>();
  worstMs = 0;
  calls = 0;

  add(outcome: Pick<Outcome, 'code' | 'ms'>): void {
    this.calls++;
    const name = statusName(outcome.code);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    this.worstMs = Math.max(this.worstMs, outcome.ms);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** "OK 120, INVALID_ARGUMENT 40", most frequent first. */
  toString(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ');
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
  }
}
