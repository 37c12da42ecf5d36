/**
 * The OpenTelemetry Node SDK as both sides start it with tracing on: the
 * server's event loop (src/telemetry/start-tracing.ts) and every worker
 * thread (workers/run-tracing.ts), each isolate its own SDK, configured by
 * the same OTEL_* variables. Imported only with tracing on.
 */
import type { Tracer } from '@opentelemetry/api';

/** The instrumentation scope every offload span is made under. */
const TRACER_NAME = 'offload';

export interface OtelSdk {
  readonly api: typeof import('@opentelemetry/api');
  readonly tracer: Tracer;
  /** Sends the spans held so far. */
  readonly flush: () => Promise<void>;
  /** Sends what is still held and stops the SDK. */
  readonly shutdown: () => Promise<void>;
}

/** `beforeStart` runs with the API loaded, before the SDK starts (the server routes the SDK's warnings to its log there). */
export async function startOtelSdk(beforeStart?: (api: OtelSdk['api']) => void): Promise<OtelSdk> {
  const [api, { NodeSDK, resources }] = await Promise.all([import('@opentelemetry/api'), import('@opentelemetry/sdk-node')]);
  beforeStart?.(api);
  const sdk = new NodeSDK({
    // Detected attributes (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) are merged over this one, so they win.
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': 'offload' })),
    instrumentations: [],
  });
  sdk.start();
  const provider = (api.trace.getTracerProvider() as import('@opentelemetry/api').ProxyTracerProvider).getDelegate() as { forceFlush?: () => Promise<void> };
  return {
    api,
    tracer: api.trace.getTracer(TRACER_NAME),
    flush: async () => {
      await provider.forceFlush?.();
    },
    shutdown: () => sdk.shutdown(),
  };
}
