import { constants as http2Constants, createServer as createHttp2Server } from 'node:http2';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status, type BatchEvent } from '../../src/index.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { eventually } from '../helpers/eventually.js';
import { closedAfterEach, offloadFailure } from '../helpers/closed-after-each.js';

const { server, client, track } = closedAfterEach();
const failure = offloadFailure;

describe('createComputeClient', () => {
  it('runs a task and returns its output, or its output, bytes and timings', async () => {
    const c = client((await server()).address);
    expect(await c.run('primes', { limit: 100 })).toEqual({ count: 25 });
    const result = await c.runForResult('echo', { a: 1 }, { data: new Uint8Array([1, 2, 3]) });
    expect(result.output).toEqual({ a: 1 });
    expect([...result.data]).toEqual([1, 2, 3]);
    expect(result.runMs).toBeGreaterThanOrEqual(0);
  });

  it('says cached on a result it did not compute for this call, and computes afresh with noCache', async () => {
    const c = client((await server()).address);
    const data = new Uint8Array([4, 5, 6]);
    expect((await c.runForResult('sha256', {}, { data })).cached).toBe(false);
    expect((await c.runForResult('sha256', {}, { data })).cached).toBe(true);
    expect((await c.runForResult('sha256', {}, { data, noCache: true })).cached).toBe(false);
    const events: string[] = [];
    for await (const event of c.runStream('sha256', {}, { data })) events.push(event.type === 'result' ? `result cached=${event.cached}` : event.type);
    expect(events).toEqual(['started', 'result cached=true']);
    for await (const event of c.runBatch([{ id: 'a', task: 'sha256', data, noCache: true }])) if (event.type === 'result') expect(event.cached).toBe(false);
    expect((await (await c.submit('sha256', {}, { data })).result()).cached).toBe(true);
  });

  it('sends a priority with runs, batch items and submits, and the server refuses none of them', async () => {
    const c = client((await server()).address);
    expect(await c.run('echo', 1, { priority: 'high' })).toBe(1);
    for await (const event of c.runStream('echo', 2, { priority: 'low' })) if (event.type === 'result') expect(event.output).toBe(2);
    for await (const event of c.runBatch([{ id: 'a', task: 'echo', input: 3, priority: 'low' }])) if (event.type === 'result') expect(event.output).toBe(3);
    expect((await (await c.submit('echo', 4, { priority: 'high' })).result()).output).toBe(4);
  });

  it('streams typed events: started, progress, then the result', async () => {
    const c = client((await server()).address);
    const types: string[] = [];
    for await (const event of c.runStream('spin', { ms: 50, steps: 5 })) types.push(event.type);
    expect(types[0]).toBe('started');
    expect(types.filter((t) => t === 'progress').length).toBeGreaterThanOrEqual(1);
    expect(types.at(-1)).toBe('result');
  });

  it('runs a batch fed by an async generator and tags events with item ids', async () => {
    const c = client((await server()).address);
    async function* items() {
      for (let i = 0; i < 20; i++) {
        yield { id: `p${i}`, task: 'primes', input: { limit: 100 + i } };
        await new Promise((r) => setTimeout(r, 1));
      }
      yield { id: 'bad', task: 'nope' };
    }
    const events: BatchEvent[] = [];
    for await (const event of c.runBatch(items())) events.push(event);
    expect(events.filter((e) => e.type === 'result')).toHaveLength(20);
    expect(events.find((e) => e.id === 'bad')).toMatchObject({ type: 'failure', code: Status.NOT_FOUND });
  });

  it('lists tasks with their schemas', async () => {
    const tasks = await client((await server()).address).listTasks();
    expect(tasks.find((t) => t.name === 'spin')?.inputSchema).toMatchObject({ required: ['ms'] });
  });

  it('throws one error type carrying the status code', async () => {
    const c = client((await server()).address);
    expect(await failure(c.run('nope'))).toMatchObject({ code: Status.NOT_FOUND });
    expect(await failure(c.run('spin', { ms: -5 }))).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'input.ms must be >= 0' });
    const stream = (async () => {
      for await (const _ of c.runStream('nope')) void _;
    })();
    expect(await failure(stream)).toMatchObject({ code: Status.NOT_FOUND });
  });

  it('applies a deadline, and the server frees the worker', async () => {
    const s = await server(['--workers', '1']);
    const c = client(s.address);
    expect(await failure(c.run('spin', { ms: 30000 }, { deadline: 200 }))).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    await eventually(() => expect(s.pool.stats).toMatchObject({ running: 0, queued: 0 }));
    const withDefault = client(s.address, { deadlineMs: 200 });
    expect(await failure(withDefault.run('spin', { ms: 30000 }))).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    expect(await c.run('spin', { ms: 1 })).toEqual({ ms: 1 });
  });

  it('cancels through an AbortSignal, and the task stops on the server', async () => {
    const s = await server(['--workers', '1', '--cancel-grace-ms', '30000']);
    const c = client(s.address);
    const controller = new AbortController();
    const call = c.run('spin', { ms: 30000 }, { signal: controller.signal });
    await eventually(() => expect(s.pool.stats.running).toBe(1));
    controller.abort();
    expect(await failure(call)).toMatchObject({ code: Status.CANCELLED });
    await eventually(() => expect(s.pool.stats.running).toBe(0));
  });

  it('retries RESOURCE_EXHAUSTED with backoff, unless retries are off', async () => {
    const s = await server(['--workers', '1', '--max-queue', '0']);
    const busy = client(s.address).run('spin', { ms: 400 });
    await eventually(() => expect(s.pool.stats.running).toBe(1));
    expect(await failure(client(s.address, { retry: false }).run('spin', { ms: 1 }))).toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    expect(await client(s.address, { retry: { baseDelayMs: 50, maxRetries: 10 } }).run('spin', { ms: 1 })).toEqual({ ms: 1 });
    await busy;
  });

  it('counts a unary call whose stream was reset before its answer as UNAVAILABLE, and retries it', async () => {
    // What a proxy does when its replica dies after the answer's headers: it resets the stream.
    let attempts = 0;
    const proxy = createHttp2Server();
    proxy.on('stream', (stream) => {
      attempts++;
      stream.on('error', () => {});
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      setTimeout(() => stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR), 5);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    track({ close: () => void proxy.close() });
    const address = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const once = await failure(client(address, { retry: false }).run('spin', { ms: 1 }));
    expect(once.code).toBe(Status.UNAVAILABLE);
    expect(once.message).toMatch(/^Received RST_STREAM with code \d+ \(.*\): the server went away before it answered$/);
    expect(attempts).toBe(1);
    await failure(client(address, { retry: { baseDelayMs: 1, maxRetries: 2 } }).run('spin', { ms: 1 }));
    expect(attempts).toBe(4);
    // A stream keeps INTERNAL: its earlier events were real.
    const stream = async () => {
      for await (const _ of client(address, { retry: false }).runStream('spin', { ms: 1 }));
    };
    expect(await failure(stream())).toMatchObject({ code: Status.INTERNAL });
  });

  it('retries UNAVAILABLE until a server comes up', async () => {
    const port = await freePort();
    const c = client(`127.0.0.1:${port}`, { retry: { baseDelayMs: 100, maxRetries: 8 } });
    const call = c.run('echo', 'hello');
    await new Promise((r) => setTimeout(r, 300));
    await server(['--port', String(port)]);
    expect(await call).toBe('hello');
  });

  it('balances calls round-robin over several replicas', async () => {
    const [a, b] = [await server(), await server()];
    const c = client(`ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`);
    for (let i = 0; i < 10; i++) await c.run('echo', i);
    for (const s of [a, b]) {
      const counted = await s.metrics.registry.getSingleMetric('offload_rpc_requests_total')!.get();
      const runs = counted.values.find((v) => v.labels['method'] === '/offload.v1.ComputeService/Run')?.value ?? 0;
      expect(runs).toBeGreaterThanOrEqual(3);
    }
  });

  describe('with TLS and a token', () => {
    let certs: TestCertificates;
    let tokenFile: string;
    beforeAll(async () => {
      certs = await createTestCertificates();
      tokenFile = join(await mkdtemp(join(tmpdir(), 'offload-token-')), 'tokens');
      await writeFile(tokenFile, 'sesame\n');
    });
    afterAll(async () => certs.cleanup());

    it('calls a TLS server that requires a bearer token', async () => {
      const s = await server(['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path, '--auth-token-file', tokenFile]);
      const address = `localhost:${s.port}`;
      expect(await client(address, { tls: { ca: certs.ca.cert.path }, token: 'sesame' }).run('echo', 1)).toBe(1);
      expect(await failure(client(address, { tls: { ca: certs.ca.cert.pem } }).run('echo', 1))).toMatchObject({
        code: Status.UNAUTHENTICATED,
      });
    });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
