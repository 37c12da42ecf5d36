/**
 * deploy/nginx.conf in front of real replicas (the compiled server, as child
 * processes): what a TypeScript client sees when replicas are drained
 * (SIGTERM) or killed (SIGKILL) under it, for unary calls and streams.
 *
 * Streams and unary calls that must sit on a given replica go through nginx
 * like every other call; the test then finds the replica that runs them from
 * each replica's /metrics (offload_tasks_running; every replica has one
 * worker) and signals that one. So nginx's own handling is what is tested.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeClient, OffloadError, Status, type BatchItem, type ComputeClient, type RunEvent } from '../../src/index.js';
import { killAll, startNginx, startReplica, type Nginx, type Replica } from './cluster.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { eventually } from '../helpers/eventually.js';

/** One worker each, so a replica runs one task at a time and the test can tell which one runs it. */
const REPLICA_FLAGS = ['--workers', '1', '--max-queue', '32', '--shutdown-grace-ms', '10000'];

interface Cluster {
  replicas: Replica[];
  nginx: Nginx;
  target: string;
  /** With `tls: true`: nginx's TLS port, and the certificates (the client trusts `ca`). */
  tlsTarget?: string;
  certs?: TestCertificates;
}

/** Starts `count` replicas and nginx in front of them, for the tests of one describe block. */
function useCluster(count: number, options: { flags?: string[]; overrides?: Record<string, string>; tls?: boolean } = {}): Cluster {
  const cluster = { replicas: [] as Replica[] } as Cluster;
  beforeAll(async () => {
    if (options.tls) cluster.certs = await createTestCertificates();
    const started = await Promise.allSettled(Array.from({ length: count }, () => startReplica(options.flags ?? REPLICA_FLAGS)));
    cluster.replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    cluster.nginx = await startNginx(
      cluster.replicas.map((r) => r.port),
      {
        overrides: options.overrides,
        tls: cluster.certs && { cert: cluster.certs.server.cert.path, key: cluster.certs.server.key.path },
      },
    );
    cluster.target = `127.0.0.1:${cluster.nginx.port}`;
    if (cluster.nginx.tlsPort) cluster.tlsTarget = `127.0.0.1:${cluster.nginx.tlsPort}`;
  });
  afterAll(async () => {
    await cluster.nginx?.stop();
    await killAll(cluster.replicas);
    await cluster.certs?.cleanup();
  });
  return cluster;
}

/** The one live replica that is running a task now (each replica has one worker). */
async function replicaRunningTask(replicas: readonly Replica[]): Promise<Replica> {
  return eventually(
    async () => {
      const live = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
      const running = (await Promise.all(live.map(async (r) => ((await r.running()) > 0 ? [r] : [])))).flat();
      if (running.length !== 1) throw new Error(`${running.length} replicas are running a task`);
      return running[0]!;
    },
  );
}

/** Consumes a stream, keeping its events, and settles with the error it ended with (undefined: none). */
function consume<Event>(stream: AsyncIterable<Event>, events: Event[]): Promise<OffloadError | undefined> {
  return (async () => {
    for await (const event of stream) events.push(event);
  })().then(
    () => undefined,
    (error: unknown) => error as OffloadError,
  );
}

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: OffloadError }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: error as OffloadError };
  }
}

/** Access log lines of calls to `method` that `port` served or was tried for. */
function logLines(nginx: Nginx, method: string, port?: number): string[] {
  return nginx
    .accessLog()
    .split('\n')
    .filter((line) => line.includes(`/offload.v1.ComputeService/${method} `) && (port === undefined || line.includes(`127.0.0.1:${port}`)));
}

/** How many primes are below each n up to `max`, by a plain sieve independent of the task's. */
function primeCounts(max: number): Uint32Array {
  const composite = new Uint8Array(max + 1);
  const below = new Uint32Array(max + 2);
  for (let n = 2; n <= max; n++) {
    if (!composite[n]) for (let m = n * n; m <= max; m += n) composite[m] = 1;
    below[n + 1] = below[n]! + (composite[n] ? 0 : 1);
  }
  return below;
}

describe('offload behind nginx (deploy/nginx.conf) with three replicas', () => {
  const cluster = useCluster(3);

  it("carries a 10 MiB request, beyond nginx's default body limit, and a RunBatch stream in both directions", async () => {
    const client = createComputeClient(cluster.target, { retry: false });
    try {
      const data = new Uint8Array(10 * 1024 * 1024).fill(7);
      expect(await client.run('sha256', {}, { data })).toEqual({ hex: createHash('sha256').update(data).digest('hex') });
      const results: Record<string, unknown> = {};
      const items = Array.from({ length: 20 }, (_, i) => ({ id: `item-${i}`, task: 'primes', input: { limit: 1000 + i } }));
      for await (const event of client.runBatch(items)) if (event.type === 'result') results[event.id] = event.output;
      const expected = primeCounts(1020);
      expect(results).toEqual(Object.fromEntries(items.map((item, i) => [item.id, { count: expected[1000 + i] }])));
    } finally {
      client.close();
    }
  });

  it('carries a 100 MiB RunBatch stream of 1 MiB items, because nginx puts no cap on a stream as a whole', async () => {
    const client = createComputeClient(cluster.target, { retry: false });
    const expected: Record<string, { hex: string }> = {};
    // Made as they are sent, so the test never holds the whole 100 MiB.
    function* items(): Generator<BatchItem> {
      const base = randomBytes(1024 * 1024);
      for (let i = 0; i < 100; i++) {
        const data = Buffer.from(base);
        data.writeUInt32BE(i);
        expected[`item-${i}`] = { hex: createHash('sha256').update(data).digest('hex') };
        yield { id: `item-${i}`, task: 'sha256', data };
      }
    }
    const results: Record<string, unknown> = {};
    try {
      for await (const event of client.runBatch(items())) {
        if (event.type === 'result') results[event.id] = event.output;
        if (event.type === 'failure') results[event.id] = `${event.code}: ${event.message}`;
      }
    } finally {
      client.close();
    }
    expect(Object.keys(results)).toHaveLength(100);
    expect(results).toEqual(expected);
    // nginx logs a call once it has finished it, a moment after the client has its trailers.
    await eventually(() => expect(logLines(cluster.nginx, 'RunBatch').at(-1)).toMatch(/ 200 grpc_status=0 /));
  });

  it('answers 500 unary calls correctly while one replica is drained with SIGTERM and another is killed with SIGKILL', async () => {
    const calls = 500;
    const base = 1_000_000;
    const expected = primeCounts(base + calls);
    // The client's defaults: retries of UNAVAILABLE and RESOURCE_EXHAUSTED with backoff.
    const client = createComputeClient(cluster.target, { deadlineMs: 20_000 });
    const [drained, killed, survivor] = cluster.replicas as [Replica, Replica, Replica];
    const results: (number | string)[] = [];
    let done = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < calls) {
        const i = next++;
        try {
          results[i] = (await client.run<{ count: number }>('primes', { limit: base + i })).count;
        } catch (error) {
          results[i] = `${(error as OffloadError).code}: ${(error as Error).message}`;
        }
        done++;
        if (done === 150) drained.child.kill('SIGTERM');
        if (done === 250) killed.child.kill('SIGKILL');
      }
    };
    try {
      await Promise.all(Array.from({ length: 20 }, worker));
    } finally {
      client.close();
    }

    const wrong = results.flatMap((got, i) => (got === expected[base + i] ? [] : [`limit ${base + i}: got ${got}, want ${expected[base + i]}`]));
    expect(wrong).toEqual([]);
    expect(results).toHaveLength(calls);
    expect(await drained.exited).toBe(0);
    expect(drained.output()).toContain('"phase":"stopped"');
    expect(killed.child.signalCode).toBe('SIGKILL');
    // nginx balanced the calls: every replica served some before the signals.
    for (const replica of [drained, killed, survivor]) {
      expect(logLines(cluster.nginx, 'Run', replica.port).join('\n')).toMatch(/ 200 grpc_status=0 /);
    }
    // The kill hit calls in flight: nginx answered them 502 (UNAVAILABLE), and the client ran them again.
    expect(logLines(cluster.nginx, 'Run', killed.port).join('\n')).toMatch(/ 502 grpc_status=- upstream=127\.0\.0\.1:\d+ upstream_status=502 /);
  });
});

describe('offload behind nginx when the replica serving a call goes away', () => {
  const cluster = useCluster(5);
  let client: ComputeClient;
  let noRetry: ComputeClient;
  beforeAll(() => {
    client = createComputeClient(cluster.target, { deadlineMs: 20_000 });
    noRetry = createComputeClient(cluster.target, { deadlineMs: 20_000, retry: false });
  });
  afterAll(() => {
    client?.close();
    noRetry?.close();
  });
  let drained: Replica;

  it('lets a RunStream finish on a replica drained with SIGTERM, while new calls nginx still sends there get UNAVAILABLE "server shutting down"', async () => {
    const events: RunEvent[] = [];
    // Long enough to keep the replica draining while the calls below are made, even on a loaded machine.
    const stream = consume(client.runStream('spin', { ms: 4000, steps: 40 }), events);
    await eventually(() => expect(events.some((e) => e.type === 'progress')).toBe(true));
    drained = await replicaRunningTask(cluster.replicas);
    drained.child.kill('SIGTERM');
    await eventually(() => expect(drained.output()).toContain('"phase":"draining"'));

    // nginx cannot see health NOT_SERVING: it keeps routing its share of new calls to the draining replica.
    const withoutRetry = [];
    for (let i = 0; i < 10; i++) withoutRetry.push(await settle(noRetry.run('echo', i)));
    const refused = withoutRetry.filter((r) => r.error);
    expect(refused.length).toBeGreaterThan(0);
    for (const { error } of refused) expect({ code: error!.code, message: error!.message }).toEqual({ code: Status.UNAVAILABLE, message: 'server shutting down' });
    // ... so a client that retries UNAVAILABLE (the default) never notices.
    expect(await Promise.all(Array.from({ length: 10 }, (_, i) => client.run('echo', i)))).toEqual(Array.from({ length: 10 }, (_, i) => i));

    expect(await stream).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 4000 } });
    expect(await drained.exited).toBe(0);
    expect(logLines(cluster.nginx, 'RunStream', drained.port).join('\n')).toMatch(/ 200 grpc_status=0 upstream=127\.0\.0\.1:\d+ upstream_status=200 /);
  });

  it('moves new calls off a replica that has exited before they reach it, so even a client without retries never notices', async () => {
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await settle(noRetry.run('echo', i)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => ({ value: i })));
    // grpc_next_upstream: the refused connection (502) was retried on another replica by nginx itself.
    expect(logLines(cluster.nginx, 'Run', drained.port).join('\n')).toMatch(
      new RegExp(`grpc_status=0 upstream=127\\.0\\.0\\.1:${drained.port}, 127\\.0\\.0\\.1:\\d+ upstream_status=502, 200 `),
    );
  });

  it('fails a RunStream whose replica is killed with SIGKILL with INTERNAL "Received RST_STREAM with code 2"', async () => {
    const events: RunEvent[] = [];
    const stream = consume(client.runStream('spin', { ms: 3000, steps: 30 }), events);
    await eventually(() => expect(events.some((e) => e.type === 'progress')).toBe(true));
    const replica = await replicaRunningTask(cluster.replicas);
    replica.child.kill('SIGKILL');

    const error = await stream;
    expect(error).toBeInstanceOf(OffloadError);
    expect(error!.code).toBe(Status.INTERNAL);
    expect(error!.message).toMatch(/^Received RST_STREAM with code 2/);
    // nginx had already sent the response headers (and progress), so it can only reset the stream.
    expect(events.some((e) => e.type === 'result')).toBe(false);
  });

  it('fails a unary Run whose replica is killed with SIGKILL with UNAVAILABLE "Received HTTP status code 502"', async () => {
    const call = settle(noRetry.run('spin', { ms: 3000 }));
    const replica = await replicaRunningTask(cluster.replicas);
    replica.child.kill('SIGKILL');

    const { error } = await call;
    expect(error).toBeInstanceOf(OffloadError);
    expect({ code: error!.code, message: error!.message }).toEqual({ code: Status.UNAVAILABLE, message: 'Received HTTP status code 502' });
    // A unary response has no headers until the task ends: nginx can still answer with an HTTP error.
    expect(cluster.nginx.errorLog()).toMatch(/(upstream prematurely closed connection|\(104: Connection reset by peer\)) while reading response header from upstream/);
  });

  it('runs such a unary Run again on another replica with the default retry, so the caller gets its result', async () => {
    const call = client.run('spin', { ms: 1000 });
    const replica = await replicaRunningTask(cluster.replicas);
    replica.child.kill('SIGKILL');

    expect(await call).toEqual({ ms: 1000 });
    const lines = logLines(cluster.nginx, 'Run', replica.port);
    expect(lines.join('\n')).toMatch(/ 502 grpc_status=- upstream=\S+ upstream_status=502 /);
  });
});

describe('offload behind nginx with grpc_read_timeout shortened to 2 s', () => {
  const overrides = { grpc_read_timeout: '2s' };
  const heartbeats = useCluster(1, { flags: [...REPLICA_FLAGS, '--heartbeat-ms', '500'], overrides });
  const slowHeartbeats = useCluster(1, { flags: [...REPLICA_FLAGS, '--heartbeat-ms', '60000'], overrides });

  it('keeps a RunStream that makes no progress for 4 s open, because offload sends a heartbeat every --heartbeat-ms', async () => {
    const client = createComputeClient(heartbeats.target);
    try {
      const events: RunEvent[] = [];
      expect(await consume(client.runStream('spin', { ms: 4000, steps: 1 }), events)).toBeUndefined();
      expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 4000 } });
      // The repeated (here: initial, 0) progress that kept the stream alive.
      expect(events.filter((e) => e.type === 'progress' && e.fraction === 0).length).toBeGreaterThanOrEqual(4);
    } finally {
      client.close();
    }
  });

  it('cuts the same stream with INTERNAL when heartbeats are rarer than grpc_read_timeout', async () => {
    const client = createComputeClient(slowHeartbeats.target);
    try {
      const error = await consume(client.runStream('spin', { ms: 4000, steps: 1 }), []);
      expect(error?.code).toBe(Status.INTERNAL);
      expect(error?.message).toMatch(/^Received RST_STREAM with code 2/);
      expect(slowHeartbeats.nginx.errorLog()).toContain('upstream timed out');
    } finally {
      client.close();
    }
  });

  it('cuts a unary Run longer than grpc_read_timeout with UNAVAILABLE 504, which is why it must outlast --max-run-ms', async () => {
    const client = createComputeClient(heartbeats.target, { retry: false });
    try {
      const { error } = await settle(client.run('spin', { ms: 3000 }));
      expect({ code: error?.code, message: error?.message }).toEqual({ code: Status.UNAVAILABLE, message: 'Received HTTP status code 504' });
    } finally {
      client.close();
    }
  });
});

describe('offload behind nginx with the TLS lines of deploy/nginx.conf uncommented', () => {
  const cluster = useCluster(2, { tls: true });

  it('serves a unary Run and a RunBatch stream over TLS to a client that trusts the certificate', async () => {
    // Verified by name, as clients reach a proxy, rather than by IP address (which sends no SNI).
    const client = createComputeClient(cluster.tlsTarget!, {
      retry: false,
      tls: { ca: cluster.certs!.ca.cert.pem },
      channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
    });
    try {
      expect(await client.run('echo', { over: 'tls' })).toEqual({ over: 'tls' });
      const data = new Uint8Array(1024 * 1024).fill(9);
      const results: Record<string, unknown> = {};
      for await (const event of client.runBatch(Array.from({ length: 5 }, (_, i) => ({ id: `item-${i}`, task: 'sha256', data })))) {
        if (event.type === 'result') results[event.id] = event.output;
      }
      const hex = createHash('sha256').update(data).digest('hex');
      expect(results).toEqual(Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`item-${i}`, { hex }])));
    } finally {
      client.close();
    }
  });
});

describe('offload behind nginx with --max-message-bytes 2 MiB', () => {
  const cluster = useCluster(1, { flags: [...REPLICA_FLAGS, '--max-message-bytes', String(2 * 1024 * 1024)] });

  it('fails a call whose one message exceeds --max-message-bytes with RESOURCE_EXHAUSTED, so nginx need not limit request sizes', async () => {
    const client = createComputeClient(cluster.target, { retry: false });
    try {
      const small = new Uint8Array(1024 * 1024);
      const items = Array.from({ length: 10 }, (_, i) => ({ id: `item-${i}`, task: 'sha256', data: small }));
      let results = 0;
      for await (const event of client.runBatch(items)) if (event.type === 'result') results++;
      expect(results).toBe(10);

      const large = new Uint8Array(3 * 1024 * 1024);
      const { error } = await settle(client.run('sha256', {}, { data: large }));
      expect(error?.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(error?.message).toMatch(/^Received message larger than max \(\d+ vs 2097152\)$/);
      const streamed = await consume(client.runBatch([{ id: 'large', task: 'sha256', data: large }]), []);
      expect(streamed?.code).toBe(Status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
  });
});
