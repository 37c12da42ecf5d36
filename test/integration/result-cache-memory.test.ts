/**
 * 10 000 distinct 64 KiB results through a server with the default 64 MB
 * cache: the cache stays within its bytes, and the process's memory stays
 * flat once it is full instead of growing with every result ever computed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../deploy/cluster.js';
import { connect, type ComputeClient } from '../helpers/client.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';
import { fixtureTasksDir, repoRoot } from '../helpers/start-server.js';

const RESULTS = 10_000;
const CACHE_MB = 64;

let server: SpawnedServer | undefined;
let client: ComputeClient;
let close: (() => void) | undefined;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  server = await spawnServer([`${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '2', '--tasks', fixtureTasksDir, '--cache-mb', String(CACHE_MB), '--metrics-port', String(metricsPort)]);
  ({ client, close } = connect(server.address));
});

afterAll(async () => {
  close?.();
  await server?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1));
}

/** Runs seeds `from`..`to`-1, 16 in flight. */
async function run(from: number, to: number): Promise<void> {
  let next = from;
  const lane = async (): Promise<void> => {
    while (next < to) {
      const seed = next++;
      const { result } = await client.run({ task: 'fixture.blob', input: { seed } });
      if (result?.data.byteLength !== 64 * 1024 || result.cached) throw new Error(`seed ${seed}: ${result?.data.byteLength} bytes, cached ${result?.cached}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
}

describe('the result cache under many distinct results', () => {
  it(`stays within --cache-mb over ${RESULTS.toLocaleString('en')} distinct 64 KiB results, with memory flat once it is full`, async () => {
    // The first half fills the cache (about 1 000 results) and brings the heap to its working size.
    await run(0, RESULTS / 2);
    const rssFull = await metric('process_resident_memory_bytes');
    await run(RESULTS / 2, RESULTS);
    const rssAfter = await metric('process_resident_memory_bytes');
    expect(await metric('offload_cache_bytes')).toBeLessThanOrEqual(CACHE_MB * 2 ** 20);
    expect(await metric('offload_cache_entries')).toBeGreaterThan(900);
    // Kept without a bound, the second half alone would add 320 MB.
    expect((rssAfter - rssFull) / 2 ** 20).toBeLessThan(48);
    // The newest results are answered from the cache, the oldest were evicted.
    expect((await client.run({ task: 'fixture.blob', input: { seed: RESULTS - 1 } })).result?.cached).toBe(true);
    expect((await client.run({ task: 'fixture.blob', input: { seed: 0 } })).result?.cached).toBe(false);
  }, 180_000);
});
