/**
 * A server span per RPC, continuing the caller's trace when its metadata
 * carries W3C `traceparent` (and `tracestate`), with the attributes of
 * OpenTelemetry's RPC conventions. Only loaded spans cost anything: with
 * tracing off no CallSpans exists and a call never reaches this module.
 */
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { Status } from 'nice-grpc';

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

export class CallSpans {
  constructor(readonly tracer: Tracer) {}

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

  /** `message` is the status message the caller got: offload's catalogue wording, never input or data. */
  end(span: Span, code: Status, message: string | undefined, attributes: Attributes): void {
    span.setAttributes(attributes);
    span.setAttribute('rpc.grpc.status_code', code);
    if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? Status[code] });
    span.end();
  }
}
