import { describe, expect, it } from 'vitest';
import { collect, rejection } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { useServerPerTest } from '../helpers/use-server.js';

describe('identical requests of a cacheable task', () => {
  const current = useServerPerTest();

  it('are computed once on one worker while the other stays free, and a later one is answered from the cache at once', async () => {
    await current.start(['--workers', '2']);
    const { client, server } = current;
    const primes = { task: 'primes', input: { limit: 300_000_000 } };
    const both = Promise.all([client.run(primes), client.run(primes)]);
    await eventually(() => expect(server.pool.stats.running).toBe(1));
    // The second worker is free: a spin starts at once rather than queueing behind a second sieve.
    const spin = await client.run({ task: 'spin', input: { ms: 10 } });
    expect(spin.result?.queuedMs).toBeLessThan(50);
    const [a, b] = await both;
    expect(a.result?.output).toEqual(b.result?.output);
    expect([a.result?.cached, b.result?.cached].sort()).toEqual([false, true]);
    const started = performance.now();
    const third = await client.run(primes);
    // At once means without a run of its own: a small share of the sieve's run time, not a fixed few ms a loaded CI machine can miss.
    expect(performance.now() - started).toBeLessThan(a.result!.runMs / 10);
    expect(third.result?.output).toEqual(a.result?.output);
    expect(third.result).toMatchObject({ cached: true, runMs: a.result?.runMs });
    const fresh = await client.run({ ...primes, input: { limit: 1000 }, noCache: true });
    expect(fresh.result?.cached).toBe(false);
  });

  it('never share a task that does not declare itself cacheable', async () => {
    await current.start(['--workers', '2']);
    const { client } = current;
    const [a, b] = await Promise.all([client.run({ task: 'spin', input: { ms: 200 } }), client.run({ task: 'spin', input: { ms: 200 } })]);
    const c = await client.run({ task: 'spin', input: { ms: 200 } });
    expect([a, b, c].map((r) => r.result?.cached)).toEqual([false, false, false]);
  });

  it('recompute with no_cache and refresh the cached result', async () => {
    await current.start(['--workers', '1']);
    const { client } = current;
    const hash = { task: 'sha256', input: {}, data: Buffer.from('abc') };
    await client.run(hash);
    expect((await client.run(hash)).result?.cached).toBe(true);
    expect((await client.run({ ...hash, noCache: true })).result?.cached).toBe(false);
  });

  it('give a stream that joins a run its Started, the latest progress and the result', async () => {
    await current.start(['--workers', '2']);
    const { client, server } = current;
    const primes = { task: 'primes', input: { limit: 200_000_000 } };
    const first = client.run(primes);
    await eventually(() => expect(server.pool.stats.running).toBe(1));
    const events = await collect(client.runStream(primes));
    expect(events[0]?.started).toBeDefined();
    expect(events.at(-1)?.result?.cached).toBe(true);
    expect(events.at(-1)?.result?.output).toEqual((await first).result?.output);
  });

  it('keep a shared run going when one caller cancels, and stop it and free the worker when the last one does', async () => {
    await current.start(['--workers', '1', '--metrics-port', '0']);
    const { client, server } = current;
    const primes = { task: 'primes', input: { limit: 1_999_999_999 } };
    const first = new AbortController();
    const second = new AbortController();
    const a = rejection(client.run(primes, { signal: first.signal }));
    await eventually(() => expect(server.pool.stats.running).toBe(1));
    const b = rejection(client.run(primes, { signal: second.signal }));
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
      expect(text).toContain('offload_cache_requests_total{task="primes",result="joined"} 1');
    });
    const scrape = async (): Promise<string> => (await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text());
    first.abort();
    expect((await a) as unknown).toMatchObject({ name: 'AbortError' });
    // Once the server has ended the first call, the run still goes on for the second.
    await eventually(async () => expect(await scrape()).toContain('offload_rpc_requests_total{method="/offload.v1.ComputeService/Run",code="CANCELLED"} 1'));
    expect(server.pool.stats.running).toBe(1);
    second.abort();
    await b;
    await eventually(() => expect(server.pool.stats.running).toBe(0));
    // The worker is free again, and nothing was cached.
    expect((await client.run({ task: 'spin', input: { ms: 1 } })).result?.cached).toBe(false);
  });

  it('forget a cached result after --cache-ttl-ms', async () => {
    await current.start(['--cache-ttl-ms', '300']);
    const { client } = current;
    const hash = { task: 'sha256', input: {}, data: Buffer.from('ttl') };
    await client.run(hash);
    expect((await client.run(hash)).result?.cached).toBe(true);
    await eventually(async () => expect((await client.run(hash)).result?.cached).toBe(false));
  });

  it('share nothing with --cache-mb 0', async () => {
    await current.start(['--cache-mb', '0']);
    const { client } = current;
    const hash = { task: 'sha256', input: {}, data: Buffer.from('off') };
    await client.run(hash);
    expect((await client.run(hash)).result?.cached).toBe(false);
  });

  it('are shared across RunBatch items and Submit too', async () => {
    await current.start(['--workers', '1']);
    const { client } = current;
    const data = Buffer.from('shared');
    async function* items() {
      yield { id: 'a', task: 'sha256', input: {}, data, noCache: false };
      yield { id: 'b', task: 'sha256', input: {}, data, noCache: false };
    }
    const events = await collect(client.runBatch(items()));
    const results = events.filter((e) => e.result);
    expect(results.map((e) => e.result?.cached).sort()).toEqual([false, true]);
    await client.submit({ task: 'sha256', input: {}, data, jobId: 'cached-job' });
    const watched = await collect(client.watch({ jobId: 'cached-job' }));
    expect(watched.at(-1)?.result?.cached).toBe(true);
    expect(watched.at(-1)?.result?.output).toEqual(results[0]?.result?.output);
  });
});
