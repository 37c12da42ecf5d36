/**
 * The tracing scenario's two offload servers (issue 17): the benchmark's
 * offload command, one tracing every call (`--otel`, every trace sampled,
 * OTLP over HTTP/protobuf, the SDK's defaults otherwise) and one not.
 * Measured back to back in interleaved pairs (./pairs.ts) with overhead's echo
 * calls. The traced server's spans go to a receiver in the harness that counts
 * what arrives and answers at once, as a collector on the same host would.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as pairs from './pairs.js';
import type { ScenarioResult } from './scenarios.js';
import type { ServerHandle, ServerSetup } from './servers.js';

export const TRACING_CONFIGS = ['on', 'off'] as const;
export type TracingConfig = (typeof TRACING_CONFIGS)[number];
export type TracingPair = Record<TracingConfig, ServerHandle> & { receiver: OtlpReceiver };

/** Appended to offload's flags. */
const TRACING_FLAGS: Record<TracingConfig, string[]> = { on: ['--otel'], off: [] };

/** What each server's environment gets: the traced one's OpenTelemetry settings; none of them for the other. */
function tracingEnv(endpoint: string): Record<TracingConfig, Record<string, string | undefined>> {
  const unset = { OTEL_TRACES_EXPORTER: undefined, OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OFFLOAD_OTEL: undefined };
  return {
    on: {
      ...unset,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      // 100%: every call's spans are made and sent, the most tracing can cost.
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_SERVICE_NAME: 'offload-bench',
    },
    off: unset,
  };
}

/** An OTLP/HTTP receiver that keeps nothing: it counts the export requests and their bytes. */
export interface OtlpReceiver {
  readonly requests: number;
  readonly bytes: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<OtlpReceiver & { url: string }> {
  let requests = 0;
  let bytes = 0;
  const server: Server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      requests++;
      // An empty ExportTraceServiceResponse: everything accepted.
      response.writeHead(200, { 'content-type': 'application/x-protobuf' });
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get bytes() {
      return bytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts the receiver and both servers and checks each honours the contract; settles, never rejects. */
export async function startTracingPair(setup: ServerSetup, runIndex: number, verifyTimeoutMs: number): Promise<{ pair: TracingPair } | { error: string }> {
  const receiver = await startReceiver();
  const started = await pairs.startOffloads(setup, runIndex, TRACING_FLAGS, verifyTimeoutMs, 'tracing', tracingEnv(receiver.url));
  if ('error' in started) {
    await receiver.close();
    return started;
  }
  return { pair: { ...started.servers, receiver } };
}

/** The order of each pair in run `runIndex`: on off, off on, …, the next run beginning the other way. */
export function pairOrders(runIndex: number, count: number): TracingConfig[][] {
  return pairs.pairOrders(TRACING_CONFIGS, runIndex, count);
}

/** Figures compared as on ÷ off within each pair. */
const RATIOS = ['rps', 'p50Ms', 'p99Ms', 'cpuUsPerCall', 'mainThreadUsPerCall', 'loadgenUsPerCall'];

/**
 * One measurement from a pair: `cpuUsPerCallOn`, `cpuUsPerCallOff`,
 * `cpuUsPerCallRatio` (on ÷ off), the extra CPU per call tracing cost
 * (`cpuUsPerCallAdded`), and what reached the receiver since the last pair
 * (`otlpBytesPerCall`: about the same in every pair when no span is dropped).
 */
export function combinePair(on: ScenarioResult, off: ScenarioResult, onFirst: boolean, received: { requests: number; bytes: number }): ScenarioResult {
  const combined = pairs.combinePair(TRACING_CONFIGS, { on, off }, onFirst ? 'on' : 'off', ['on', 'off'], RATIOS);
  const { cpuUsPerCall: cpuOn, calls: callsOn } = on.metrics;
  const cpuOff = off.metrics['cpuUsPerCall'];
  if (cpuOn !== undefined && cpuOff !== undefined) combined.metrics['cpuUsPerCallAdded'] = cpuOn - cpuOff;
  combined.metrics['otlpRequests'] = received.requests;
  if (callsOn) combined.metrics['otlpBytesPerCall'] = received.bytes / callsOn;
  return combined;
}
