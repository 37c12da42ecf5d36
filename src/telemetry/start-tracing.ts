/**
 * OpenTelemetry tracing for the server process, started only when asked for
 * (`--otel`, or OTEL_TRACES_EXPORTER naming an exporter): with it off nothing
 * here is imported and no SDK is loaded. The SDK reads the standard
 * variables itself (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_TRACES_SAMPLER,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY and the rest); offload
 * adds only its service name as the default.
 */
import { startOtelSdk } from '../../bridge/start-otel-sdk.js';
import type { Logger } from '../log.js';
import type { CallSpans } from './call-spans.js';

export interface Tracing {
  /** What the call scopes open and end a server span with. */
  readonly spans: CallSpans;
  /** Sends what is still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

export async function startTracing(log: Logger): Promise<Tracing> {
  // Imported here, not at the top: with tracing off, neither the SDK nor the API is loaded.
  const [sdk, { CallSpans }] = await Promise.all([
    startOtelSdk((api) =>
      // Export failures and the SDK's own warnings go to offload's log, not to a console nobody reads.
      api.diag.setLogger(
        {
          error: (message, ...args) => log.warn({ otel: args.length ? args : undefined }, `opentelemetry: ${message}`),
          warn: (message, ...args) => log.warn({ otel: args.length ? args : undefined }, `opentelemetry: ${message}`),
          info: () => {},
          debug: () => {},
          verbose: () => {},
        },
        api.DiagLogLevel.WARN,
      ),
    ),
    import('./call-spans.js'),
  ]);
  return { spans: new CallSpans(sdk.tracer), shutdown: sdk.shutdown };
}
