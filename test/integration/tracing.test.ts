import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { propagation, SpanKind, trace } from '@opentelemetry/api';
import { core, tracing } from '@opentelemetry/sdk-node';
import { Metadata, Status } from 'nice-grpc';
import { createComputeClient } from '../../src/client/create-compute-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';
import { fixtureTasksDir, repoRoot } from '../helpers/start-server.js';

/** A span as OTLP/JSON carries it (ids in hex). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
  events?: { name: string; attributes?: { key: string; value: Record<string, unknown> }[] }[];
  links?: { traceId: string; spanId: string }[];
}

interface Received {
  spans: OtlpSpan[];
  services: string[];
}

/** OTLP's SpanKind and StatusCode, as numbers on the wire. */
const SPAN_KIND_SERVER = 2;
const STATUS_CODE_ERROR = 2;

/** A real OTLP/HTTP receiver in the test: what the exporter POSTs to /v1/traces, decoded as the JSON protocol. */
async function startReceiver(): Promise<{ url: string; received: Received; close(): Promise<void> }> {
  const received: Received = { spans: [], services: [] };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: { resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
        };
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value['stringValue'];
          if (typeof service === 'string') received.services.push(service);
          for (const scope of resourceSpans.scopeSpans ?? []) received.spans.push(...(scope.spans ?? []));
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Runs `use` with a client on `address`, closed afterwards. */
async function withClient<T>(address: string, use: (client: ComputeClient) => Promise<T>): Promise<T> {
  const { client, close } = connect(address);
  try {
    return await use(client);
  } finally {
    close();
  }
}

/** The first of `spans()` that `predicate` accepts, once the receiver has it. */
function eventuallyFind(spans: () => OtlpSpan[], predicate: (span: OtlpSpan) => boolean): Promise<OtlpSpan> {
  return eventually(() => {
    const found = spans().find(predicate);
    expect(found).toBeDefined();
    return found!;
  });
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  const [only] = Object.values(value);
  // OTLP/JSON writes 64-bit integers as strings.
  return value['intValue'] !== undefined ? Number(only) : only;
}

/** A caller's span context, sent the W3C way. */
function callerContext(): { traceId: string; spanId: string; metadata: Metadata } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, metadata: new Metadata({ traceparent: `00-${traceId}-${spanId}-01` }) };
}

function traceEnv(url: string, scheduleDelayMs: number): NodeJS.ProcessEnv {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_BSP_SCHEDULE_DELAY: String(scheduleDelayMs),
  };
}

describe('tracing with OpenTelemetry', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: SpawnedServer;

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await spawnServer([`${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '2', '--tasks', fixtureTasksDir], { env: traceEnv(receiver.url, 50) });
  });

  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
  });

  const spansOf = (traceId: string) => receiver.received.spans.filter((span) => span.traceId === traceId);

  it('says in its ready line that it traces', () => {
    expect(server.stdout()).toContain('tracing with OpenTelemetry');
  });

  it("continues the caller's trace: a Run's server span is a child of the caller's span, with the RPC attributes", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      await client.run({ task: 'echo', input: { hello: 'trace' } }, { metadata: caller.metadata });
    });
    const [span] = await eventually(() => {
      const found = spansOf(caller.traceId).filter((s) => s.name === 'offload.v1.ComputeService/Run');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(span!.parentSpanId).toBe(caller.spanId);
    expect(span!.kind).toBe(SPAN_KIND_SERVER);
    expect(attribute(span!, 'rpc.system')).toBe('grpc');
    expect(attribute(span!, 'rpc.service')).toBe('offload.v1.ComputeService');
    expect(attribute(span!, 'rpc.method')).toBe('Run');
    expect(attribute(span!, 'rpc.grpc.status_code')).toBe(Status.OK);
    expect(attribute(span!, 'offload.task')).toBe('echo');
    expect(attribute(span!, 'offload.tenant')).toBe('default');
    expect(span!.status?.code ?? 0).not.toBe(STATUS_CODE_ERROR);
    expect(receiver.received.services).toContain('offload');
  });

  it("gives a RunStream, served by offload's own handler, its server span in the caller's trace", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      await collect(client.runStream({ task: 'spin', input: { ms: 30, steps: 3 } }, { metadata: caller.metadata }));
    });
    const span = await eventuallyFind(() => spansOf(caller.traceId), (s) => s.name === 'offload.v1.ComputeService/RunStream');
    expect(span.parentSpanId).toBe(caller.spanId);
    expect(attribute(span, 'rpc.grpc.status_code')).toBe(Status.OK);
  });

  it("marks a failing task's call as an error with the status message the caller got, and leaves a caller's mistake unset", async () => {
    const failing = callerContext();
    const mistaken = callerContext();
    await withClient(server.address, async (client) => {
      const failed = await rejection(client.run({ task: 'fixture.throws', input: { message: 'kaput' } }, { metadata: failing.metadata }));
      expect(failed.code).toBe(Status.INTERNAL);
      const refused = await rejection(client.run({ task: 'no.such.task' }, { metadata: mistaken.metadata }));
      expect(refused.code).toBe(Status.NOT_FOUND);
    });
    const callSpan = (traceId: string) => spansOf(traceId).find((s) => s.name === 'offload.v1.ComputeService/Run');
    const [failedSpan, refusedSpan] = await eventually(() => {
      const both = [callSpan(failing.traceId), callSpan(mistaken.traceId)];
      expect(both.every(Boolean)).toBe(true);
      return both as OtlpSpan[];
    });
    expect(failedSpan!.status).toMatchObject({ code: STATUS_CODE_ERROR, message: 'task fixture.throws failed: kaput' });
    expect(attribute(failedSpan!, 'rpc.grpc.status_code')).toBe(Status.INTERNAL);
    expect(refusedSpan!.status?.code ?? 0).not.toBe(STATUS_CODE_ERROR);
    expect(attribute(refusedSpan!, 'rpc.grpc.status_code')).toBe(Status.NOT_FOUND);
  });

  it("puts the run's wait in the queue and the run itself under the call's span, the run made in a worker thread", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      await client.run({ task: 'echo', input: { n: 1 } }, { metadata: caller.metadata });
    });
    const { call, queue, run } = await eventually(() => {
      const spans = spansOf(caller.traceId);
      const found = { call: spans.find((s) => s.name === 'offload.v1.ComputeService/Run'), queue: spans.find((s) => s.name === 'queue'), run: spans.find((s) => s.name === 'run echo') };
      expect(found.call && found.queue && found.run).toBeTruthy();
      return found as Record<'call' | 'queue' | 'run', OtlpSpan>;
    });
    expect(queue.parentSpanId).toBe(call.spanId);
    expect(run.parentSpanId).toBe(call.spanId);
    const thread = attribute(run, 'thread.id');
    expect(Number.isInteger(thread)).toBe(true);
    expect(thread).toBeGreaterThan(0);
    expect(attribute(run, 'offload.outcome')).toBe('succeeded');
    expect(attribute(queue, 'offload.started')).toBe(true);
  });

  it("records a RunStream's progress on its run span, a child of the call's, as events at most one per 100 ms", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      // 60 reports in 600 ms: every 10 ms.
      await collect(client.runStream({ task: 'spin', input: { ms: 600, steps: 60 } }, { metadata: caller.metadata }));
    });
    const { call, run } = await eventually(() => {
      const spans = spansOf(caller.traceId);
      const found = { call: spans.find((s) => s.name === 'offload.v1.ComputeService/RunStream'), run: spans.find((s) => s.name === 'run spin') };
      expect(found.call && found.run).toBeTruthy();
      return found as Record<'call' | 'run', OtlpSpan>;
    });
    expect(run.parentSpanId).toBe(call.spanId);
    const progress = (run.events ?? []).filter((e) => e.name === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.length).toBeLessThanOrEqual(7);
    const fractions = progress.map((e) => Number(e.attributes?.find((a) => a.key === 'offload.progress.fraction')?.value['doubleValue'] ?? e.attributes?.find((a) => a.key === 'offload.progress.fraction')?.value['intValue']));
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
  });

  it("marks a failing task's run span as an error with the task's message", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      await rejection(client.run({ task: 'fixture.throws', input: { message: 'kaput again' } }, { metadata: caller.metadata }));
    });
    const run = await eventuallyFind(() => spansOf(caller.traceId), (s) => s.name === 'run fixture.throws');
    expect(run.status).toMatchObject({ code: STATUS_CODE_ERROR, message: 'kaput again' });
    expect(attribute(run, 'offload.outcome')).toBe('failed');
  });

  it('lets a task add to its run span through ctx.span, and nests the spans it makes itself under it', async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      const reply = await client.run({ task: 'fixture.traced', input: {} }, { metadata: caller.metadata });
      expect(reply.result?.output).toEqual({ recording: true });
    });
    const { run, inner } = await eventually(() => {
      const spans = spansOf(caller.traceId);
      const found = { run: spans.find((s) => s.name === 'run fixture.traced'), inner: spans.find((s) => s.name === 'inner work') };
      expect(found.run && found.inner).toBeTruthy();
      return found as Record<'run' | 'inner', OtlpSpan>;
    });
    expect(attribute(run, 'fixture.answer')).toBe(42);
    expect(run.events?.map((e) => e.name)).toContain('fixture.event');
    expect(inner.parentSpanId).toBe(run.spanId);
  });

  it('gives an untraced call a ctx.span that keeps nothing', async () => {
    await withClient(server.address, async (client) => {
      // No traceparent: the call starts its own trace, which is sampled; a caller that says "not sampled" gets nothing kept.
      const unsampled = new Metadata({ traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00` });
      const reply = await client.run({ task: 'fixture.traced', input: {} }, { metadata: unsampled });
      expect(reply.result?.output).toEqual({ recording: false });
    });
  });

  it("gives each RunBatch item a trace of its own, linked to the call's span, with its queue and run under it", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      async function* items() {
        yield { id: 'a', task: 'echo', input: { n: 1 } };
        yield { id: 'b', task: 'echo', input: { n: 2 } };
      }
      await collect(client.runBatch(items(), { metadata: caller.metadata }));
    });
    const call = await eventuallyFind(() => spansOf(caller.traceId), (s) => s.name === 'offload.v1.ComputeService/RunBatch');
    const items = await eventually(() => {
      const found = receiver.received.spans.filter((s) => s.name === 'RunBatch item' && s.links?.some((l) => l.spanId === call.spanId));
      expect(found).toHaveLength(2);
      return found;
    });
    expect(items.map((s) => attribute(s, 'offload.item')).sort()).toEqual(['a', 'b']);
    for (const item of items) {
      expect(item.traceId).not.toBe(caller.traceId);
      expect(item.links?.[0]?.traceId).toBe(caller.traceId);
      await eventually(() => {
        const children = spansOf(item.traceId).filter((s) => s.parentSpanId === item.spanId).map((s) => s.name);
        expect(children.sort()).toEqual(['queue', 'run echo']);
      });
    }
    // The call's own trace holds the call, not its items' runs.
    expect(spansOf(caller.traceId).map((s) => s.name)).toEqual(['offload.v1.ComputeService/RunBatch']);
  });

  it("gives a submitted job a trace of its own, linked to the Submit call's span", async () => {
    const caller = callerContext();
    await withClient(server.address, async (client) => {
      await client.submit({ task: 'echo', input: { job: true }, jobId: `traced-${randomBytes(4).toString('hex')}` }, { metadata: caller.metadata });
    });
    const submit = await eventuallyFind(() => spansOf(caller.traceId), (s) => s.name === 'offload.v1.ComputeService/Submit');
    const job = await eventuallyFind(() => receiver.received.spans, (s) => s.name === 'job' && (s.links ?? []).some((l) => l.spanId === submit.spanId));
    expect(attribute(job, 'offload.task')).toBe('echo');
    await eventually(() => expect(spansOf(job.traceId).find((s) => s.name === 'run echo')?.parentSpanId).toBe(job.spanId));
  });

  it('starts a new trace for a call that brings none, and traces no health check', async () => {
    const before = receiver.received.spans.length;
    await withClient(server.address, async (client) => {
      await client.listTasks({});
    });
    const span = await eventuallyFind(() => receiver.received.spans.slice(before), (s) => s.name === 'offload.v1.ComputeService/ListTasks');
    expect(span.parentSpanId ?? '').toBe('');
    expect(receiver.received.spans.some((s) => s.name.startsWith('grpc.health'))).toBe(false);
  });
});

describe('client spans from the TypeScript client', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: SpawnedServer;

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await spawnServer([`${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '1'], { env: traceEnv(receiver.url, 50) });
  });

  afterAll(async () => {
    trace.disable();
    propagation.disable();
    await server?.stop();
    await receiver?.close();
  });

  const serverSpan = (predicate: (span: OtlpSpan) => boolean) =>
    eventually(() => {
      const found = receiver.received.spans.find((s) => s.name === 'offload.v1.ComputeService/Run' && predicate(s));
      expect(found).toBeDefined();
      return found!;
    });

  it('sends nothing when the caller registered no tracer provider: the server starts its own trace', async () => {
    const before = new Set(receiver.received.spans.map((s) => s.spanId));
    const client = createComputeClient(server.address);
    try {
      await client.run('echo', { untraced: true });
    } finally {
      client.close();
    }
    const span = await serverSpan((s) => !before.has(s.spanId));
    expect(span.parentSpanId ?? '').toBe('');
  });

  it("makes a client span per call once the caller's SDK is registered, and the server's span is its child", async () => {
    const exporter = new tracing.InMemorySpanExporter();
    // What an SDK's start does: a tracer provider and the W3C propagator, process-wide.
    trace.setGlobalTracerProvider(new tracing.BasicTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] }));
    propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
    const client = createComputeClient(server.address);
    try {
      await client.run('echo', { traced: true });
    } finally {
      client.close();
    }
    const [clientSpan] = exporter.getFinishedSpans();
    expect(clientSpan?.name).toBe('offload.v1.ComputeService/Run');
    expect(clientSpan?.kind).toBe(SpanKind.CLIENT);
    expect(clientSpan?.attributes['rpc.grpc.status_code']).toBe(Status.OK);
    const span = await serverSpan((s) => s.traceId === clientSpan!.spanContext().traceId);
    expect(span.parentSpanId).toBe(clientSpan!.spanContext().spanId);
  });
});

describe('tracing at shutdown', () => {
  it("sends the spans still buffered, the server's and the workers', before the process exits", async () => {
    const receiver = await startReceiver();
    // A schedule delay far beyond the test: only the shutdown's flush can send the span.
    const server = await spawnServer([`${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '1'], { env: { ...traceEnv(receiver.url, 600_000), OTEL_SERVICE_NAME: 'offload-under-test' } });
    try {
      const caller = callerContext();
      await withClient(server.address, async (client) => {
        await client.run({ task: 'echo', input: {} }, { metadata: caller.metadata });
      });
      expect(receiver.received.spans).toHaveLength(0);
      await server.stop();
      const names = receiver.received.spans.filter((s) => s.traceId === caller.traceId).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(['offload.v1.ComputeService/Run', 'queue', 'run echo']));
      expect(new Set(receiver.received.services)).toEqual(new Set(['offload-under-test']));
    } finally {
      await server.stop();
      await receiver.close();
    }
  });
});

describe('tracing off', () => {
  /** Records, in a file, every `@opentelemetry` module the server's ESM loader resolves. */
  async function resolvedOtelModules(env: NodeJS.ProcessEnv): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'offload-otel-'));
    const record = join(dir, 'resolved.txt');
    const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.includes('@opentelemetry')) appendFileSync(${JSON.stringify(record)}, specifier + '\\n');
  return next(specifier, context);
}`;
    const register = join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});\n`);
    const server = await spawnServer(['--import', register, `${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '1'], { env });
    try {
      await withClient(server.address, async (client) => {
        await client.run({ task: 'echo', input: {} });
      });
    } finally {
      await server.stop();
    }
    const text = await readFile(record, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    return text.split('\n').filter(Boolean);
  }

  it('loads no OpenTelemetry module at all, API included, unless tracing is on', async () => {
    expect(await resolvedOtelModules({})).toEqual([]);
    // The same probe sees them when tracing is on, so an empty list above means something.
    expect(await resolvedOtelModules({ OTEL_TRACES_EXPORTER: 'console' })).toEqual(expect.arrayContaining(['@opentelemetry/sdk-node', '@opentelemetry/api']));
  });
});
