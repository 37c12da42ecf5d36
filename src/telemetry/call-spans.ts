/**
 * A server span per RPC, continuing the caller's trace when its metadata
 * carries W3C `traceparent` (and `tracestate`), with the attributes of
 * OpenTelemetry's RPC conventions. Only loaded spans cost anything: with
 * tracing off no CallSpans exists and a call never reaches this module.
 */
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { Status } from 'nice-grpc';
import type { TraceCarrier } from '../../bridge/messages.js';
import type { SettledRun } from '../pool/task-pool.js';

/** A call's metadata as the server reads it: one value per key (bytes for `-bin` keys). */
export interface MetadataCarrier {
  get(key: string): string | Uint8Array | undefined;
}

const getter: TextMapGetter<MetadataCarrier> = {
  get: (carrier, key) => {
    const value = carrier.get(key);
    return typeof value === 'string' ? value : undefined;
  },
  // Only a propagator that enumerates (baggage prefixes, say) needs keys; W3C trace context reads two named ones.
  keys: () => [],
};

/** The codes OpenTelemetry's gRPC conventions count as a server's error; the rest are the caller's (UNSET). */
const SERVER_ERRORS: ReadonlySet<Status> = new Set([Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.UNIMPLEMENTED, Status.INTERNAL, Status.UNAVAILABLE, Status.DATA_LOSS]);

/** Health checks and reflection come every few seconds from every probe: a span each would bury the calls that matter. */
const UNTRACED = /^\/grpc\.(health|reflection)\./;

/** A span of its own for work that outlives or outnumbers its call (a job, a batch item), linked to the call's span. */
export interface LinkedSpan {
  /** The call's span; undefined when it is not traced (nor, then, is this). */
  readonly trace: TraceCarrier | undefined;
  readonly name: string;
  readonly attributes: Attributes;
}

export class CallSpans {
  /** Linked spans by the carrier their run holds: ended when that run settles. */
  readonly #open = new WeakMap<TraceCarrier, Span>();

  constructor(readonly tracer: Tracer) {}

  /**
   * A new trace for `linked`, with a link to the call's span, and the carrier
   * its run takes to its worker. A 100 000-item batch or a job watched for
   * hours then does not make the call's trace unreadable. Ends when the run
   * settles (queued(), below), or with `failed` when it is never admitted.
   */
  linked({ trace: callCarrier, name, attributes }: LinkedSpan): { carrier: TraceCarrier | undefined; failed(error: unknown): void } | undefined {
    if (!callCarrier) return undefined;
    const call = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, callCarrier));
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, root: true, attributes, links: call ? [{ context: call }] : [] });
    const carrier = this.carrier(span);
    if (carrier) this.#open.set(carrier, span);
    return {
      carrier,
      failed: (error) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        span.end();
      },
    };
  }

  /** The call's span, a child of the caller's when it sent one; undefined for calls not traced. */
  start(path: string, metadata: MetadataCarrier): Span | undefined {
    if (UNTRACED.test(path)) return undefined;
    const parent = propagation.extract(ROOT_CONTEXT, metadata, getter);
    const slash = path.lastIndexOf('/');
    return this.tracer.startSpan(
      path.slice(1),
      { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': path.slice(1, slash), 'rpc.method': path.slice(slash + 1) } },
      parent,
    );
  }

  /** The span's W3C trace context, for the run to carry to its worker; undefined when it is not sampled (nor, then, are its children). */
  carrier(span: Span): TraceCarrier | undefined {
    if (!span.isRecording()) return undefined;
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
    return carrier;
  }

  /**
   * A run's wait in the queue, made when the run has ended, from the times the
   * pool kept: admission to start (or to its end, for a run that never
   * started), a child of the span the run belongs under.
   */
  queued({ trace: carrier, submittedAt, queuedMs, task, tenant, code }: SettledRun): void {
    if (!carrier) return;
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const span = this.tracer.startSpan('queue', { kind: SpanKind.INTERNAL, startTime: submittedAt, attributes: { 'offload.task': task, 'offload.tenant': tenant, 'offload.started': queuedMs !== undefined } }, parent);
    span.end(queuedMs === undefined ? Date.now() : submittedAt + queuedMs);
    const linked = this.#open.get(carrier);
    if (!linked) return;
    this.#open.delete(carrier);
    linked.setAttribute('rpc.grpc.status_code', code);
    if (code !== Status.OK) linked.setStatus({ code: SpanStatusCode.ERROR, message: Status[code] });
    linked.end();
  }

  /** `onSettled`, and each run's queue span after it. */
  alsoQueueSpans(onSettled: (settled: SettledRun) => void): (settled: SettledRun) => void {
    return (settled) => {
      onSettled(settled);
      this.queued(settled);
    };
  }

  /** `message` is the status message the caller got: offload's catalogue wording, never input or data. */
  end(span: Span, code: Status, message: string | undefined, attributes: Attributes): void {
    span.setAttributes(attributes);
    span.setAttribute('rpc.grpc.status_code', code);
    if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? Status[code] });
    span.end();
  }
}
