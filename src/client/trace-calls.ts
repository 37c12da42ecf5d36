/**
 * Client spans, when the caller's process has an OpenTelemetry tracer
 * provider registered (its SDK started): each call gets a CLIENT span named
 * after its method, and sends W3C `traceparent` so the server's span is its
 * child. With no provider registered, the API's tracer makes spans that are
 * not valid, and the call goes out untouched.
 */
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { ClientError, Metadata, type CallOptions, type ClientMiddlewareCall } from 'nice-grpc';
import { Status } from '../errors.js';

/** The instrumentation scope of the client's spans. */
const TRACER = 'offload-client';

export async function* traceCalls<Request, Response>(call: ClientMiddlewareCall<Request, Response>, options: CallOptions) {
  const path = call.method.path;
  const slash = path.lastIndexOf('/');
  const span = trace
    .getTracer(TRACER)
    .startSpan(path.slice(1), { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc', 'rpc.service': path.slice(1, slash), 'rpc.method': path.slice(slash + 1) } });
  if (!isSpanContextValid(span.spanContext())) return yield* call.next(call.request, options);
  const metadata = Metadata(options.metadata);
  propagation.inject(trace.setSpan(context.active(), span), metadata, { set: (carrier, key, value) => void carrier.set(key, value) });
  try {
    const result = yield* call.next(call.request, { ...options, metadata });
    end(span, Status.OK);
    return result;
  } catch (error) {
    if (error instanceof ClientError) end(span, error.code, error.details);
    else if (error instanceof Error && error.name === 'AbortError') end(span, Status.CANCELLED);
    else end(span, Status.UNKNOWN, error instanceof Error ? error.message : String(error));
    throw error;
  }
}

/** A client counts every status but OK as an error, except a cancel it asked for itself. */
function end(span: Span, code: Status, message?: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== Status.OK && message !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}
