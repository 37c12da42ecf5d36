/**
 * The dashboard's HTTP side on the metrics port, read as a program would:
 * the page's files, the snapshot and a run's detail as JSON, the live feed,
 * tokens, and a shutdown with a page still listening. The page itself is
 * driven in a browser in test/dashboard/.
 */
import { setMaxListeners } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { QUEUE_SHOWN, type RunDetail, type Snapshot } from '../../src/dashboard/dashboard-snapshot.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { fixtureTasksDir } from '../helpers/start-server.js';

let server: ComputeServer | undefined;
let client: ComputeClient;
let closeClient: (() => void) | undefined;

async function start(flags: string[], env: NodeJS.ProcessEnv = {}): Promise<ComputeServer> {
  server = await createComputeServer(loadConfig(['--port', '0', '--workers', '1', '--tasks', fixtureTasksDir, ...flags], env));
  ({ client, close: closeClient } = connect(server.address));
  return server;
}

afterEach(async () => {
  closeClient?.();
  await server?.close();
  server = undefined;
});

const url = (path: string): string => `http://127.0.0.1:${server!.metricsPort}${path}`;
const snapshot = async (headers: Record<string, string> = {}): Promise<Snapshot> => (await fetch(url('/dashboard/api/snapshot'), { headers })).json() as Promise<Snapshot>;

/** Opens the live feed and collects its events' data as they come. */
function listen(headers: Record<string, string> = {}): Promise<{ response: IncomingMessage; events: Snapshot[]; times: number[] }> {
  return new Promise((resolve, reject) => {
    get(url('/dashboard/api/events'), { headers }, (response) => {
      const events: Snapshot[] = [];
      const times: number[] = [];
      let buffered = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const data = buffered.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
          buffered = buffered.slice(end + 2);
          if (data) {
            events.push(JSON.parse(data.slice(6)) as Snapshot);
            times.push(performance.now());
          }
        }
      });
      resolve({ response, events, times });
    }).on('error', reject);
  });
}

describe('the dashboard on the metrics port', () => {
  it('serves the page and its files with a policy that runs no script but its own', async () => {
    await start(['--metrics-port', '0']);
    const page = await fetch(url('/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js"></script>');
    for (const file of ['app.js', 'render.js', 'charts.js']) {
      const response = await fetch(url(`/dashboard/${file}`));
      expect([response.status, response.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    }
    expect((await fetch(url('/dashboard/style.css'))).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(url('/'), { method: 'POST' })).status).toBe(405);
    expect((await fetch(url('/'), { method: 'HEAD' })).status).toBe(200);
    const head = await fetch(url('/dashboard/api/snapshot'), { method: 'HEAD' });
    expect([head.status, head.headers.get('allow')]).toEqual([405, 'GET']);
    const missing = await fetch(url('/dashboard/nothing'));
    expect([missing.status, await missing.json()]).toEqual([404, { error: 'no such page: /dashboard/nothing' }]);
    expect((await fetch(url('/metrics'))).status).toBe(200);
  });

  it('shows each worker with the run it holds and its progress, and the server facts', async () => {
    await start(['--metrics-port', '0']);
    const spin = collect(client.runStream({ task: 'spin', input: { ms: 1500, steps: 30 } }));
    const seen = await eventually(async () => {
      const now = await snapshot();
      expect(now.workers[0]?.run?.progress?.fraction).toBeGreaterThan(0);
      return now;
    });
    expect(seen.workers).toHaveLength(1);
    expect(seen.workers[0]!.run).toMatchObject({ task: 'spin', tenant: 'default', priority: 'normal', state: 'running', thread: seen.workers[0]!.thread });
    expect(seen.workers[0]!.run!.progress!.message).toMatch(/^step \d+ of 30$/);
    expect(seen.server).toMatchObject({ version: '0.1.0', node: process.version, workers: 1, draining: false, inFlight: 1 });
    expect(seen.server.flags).toContainEqual(['workers', '1']);
    await spin;
    const after = await eventually(async () => {
      const now = await snapshot();
      expect(now.recent).toHaveLength(1);
      return now;
    });
    expect(after.recent[0]).toMatchObject({ task: 'spin', outcome: 'OK' });
    expect(after.recent[0]!.message).toBeUndefined();
    expect(after.recent[0]!.runMs).toBeGreaterThanOrEqual(1400);
    expect(after.charts.at(-1)!.run).not.toBeNull();
    expect(after.workers[0]!.run).toBeUndefined();
  });

  it(`counts the whole queue but lists only its first ${QUEUE_SHOWN}, oldest first, by priority and tenant`, async () => {
    await start(['--metrics-port', '0', '--max-queue', '100']);
    const leave = new AbortController();
    setMaxListeners(40, leave.signal);
    const calls = Array.from({ length: 40 }, (_, i) =>
      rejection(client.run({ task: 'fixture.wait', input: { ms: 60_000 } }, { metadata: Metadata({ 'offload-tenant': i % 2 ? 'team-b' : 'team-a' }), signal: leave.signal })));
    const now = await eventually(async () => {
      const current = await snapshot();
      expect(current.queue.waiting).toBe(39);
      return current;
    });
    expect(now.queue.first).toHaveLength(QUEUE_SHOWN);
    const ids = now.queue.first.map((run) => run.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(now.queue.depths.map(({ priority, tenant, waiting }) => [priority, tenant, waiting]).sort()).toEqual([['normal', 'team-a', 19], ['normal', 'team-b', 20]]);
    expect(now.queue.oldestWaitMs).toBeGreaterThanOrEqual(0);
    leave.abort();
    await Promise.all(calls);
  });

  it('keeps a failed run with its status and message, and answers for a run by number', async () => {
    await start(['--metrics-port', '0']);
    await rejection(client.run({ task: 'fixture.task-error', input: { code: 'FAILED_PRECONDITION', message: 'no <b>input</b> here' } }));
    const ended = await eventually(async () => {
      const now = await snapshot();
      expect(now.recent).toHaveLength(1);
      return now.recent[0]!;
    });
    expect(ended).toMatchObject({ task: 'fixture.task-error', outcome: 'FAILED_PRECONDITION', message: 'no <b>input</b> here' });
    const detail = (await (await fetch(url(`/dashboard/api/runs/${ended.id}`))).json()) as RunDetail;
    expect(detail).toMatchObject({ ended: true, run: { id: ended.id, outcome: 'FAILED_PRECONDITION' }, progress: [] });
    const unknown = await fetch(url('/dashboard/api/runs/999999'));
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'run 999999 is neither live nor among the recently ended' }]);
  });

  it('names a submitted job by its id, and counts restarts and suspended tasks', async () => {
    await start(['--metrics-port', '0', '--crash-limit', '1', '--crash-cooldown-ms', '60000']);
    await client.submit({ task: 'spin', input: { ms: 10 }, jobId: 'report-7' });
    await rejection(client.run({ task: 'fixture.exit', input: {} }));
    const now = await eventually(async () => {
      const current = await snapshot();
      expect(current.recent).toHaveLength(2);
      expect(current.restarts).toBe(1);
      return current;
    });
    expect(now.recent.find((run) => run.task === 'spin')).toMatchObject({ job: 'report-7', outcome: 'OK' });
    expect(now.recent.find((run) => run.task === 'fixture.exit')).toMatchObject({ outcome: 'INTERNAL' });
    expect(now.suspended).toEqual([{ task: 'fixture.exit', crashes: 1, forMs: expect.any(Number) as number }]);
    expect(now.suspended[0]!.forMs).toBeGreaterThan(50_000);
  });

  it('says when the server drains, and how many calls are still in flight', async () => {
    const started = await start(['--metrics-port', '0', '--shutdown-grace-ms', '5000']);
    const call = collect(client.runStream({ task: 'spin', input: { ms: 800, steps: 4 } }));
    await eventually(async () => expect((await snapshot()).workers[0]!.run).toBeDefined());
    const stopped = started.shutdown();
    await eventually(async () => expect((await snapshot()).server).toMatchObject({ draining: true, inFlight: 1 }));
    await call;
    await stopped;
    server = undefined;
  });

  it('feeds a listening page at most four snapshots a second', async () => {
    await start(['--metrics-port', '0']);
    const { response, events, times } = await listen();
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await eventually(() => expect(events.length).toBeGreaterThanOrEqual(6));
    response.destroy();
    const gaps = times.slice(2).map((t, i) => t - times[i + 1]!);
    // The first comes at once; then one per 250 ms tick, give or take the timer's jitter.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(200);
    expect(events[0]!.workers).toHaveLength(1);
  });

  it('lets shutdown end a feed a page still listens to', async () => {
    const started = await start(['--metrics-port', '0', '--shutdown-grace-ms', '1000']);
    const { response } = await listen();
    const ended = new Promise<void>((resolve) => response.on('end', resolve).resume());
    await started.shutdown();
    await ended;
    server = undefined;
  });

  it('is not served with OFFLOAD_DASHBOARD=false, and --dashboard alone opens the metrics port', async () => {
    await start(['--metrics-port', '0'], { OFFLOAD_DASHBOARD: 'false' });
    expect((await fetch(url('/'))).status).toBe(404);
    expect((await fetch(url('/dashboard/api/snapshot'))).status).toBe(404);
    expect((await fetch(url('/metrics'))).status).toBe(200);
    expect(loadConfig(['--dashboard'], {})).toMatchObject({ metricsPort: 9464, dashboard: true });
  });
});

describe('the dashboard with bearer tokens', () => {
  const TOKEN = 'ops-token-3b9d71c2';

  it('wants a token for its data, not for its page nor for /metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'offload-dashboard-'));
    await writeFile(join(dir, 'tokens'), `ops:${TOKEN}\n`);
    await start(['--metrics-port', '0', '--auth-token-file', join(dir, 'tokens')]);
    for (const path of ['/dashboard/api/snapshot', '/dashboard/api/events', '/dashboard/api/runs/1']) {
      const missing = await fetch(url(path));
      expect([missing.status, missing.headers.get('www-authenticate'), await missing.json()]).toEqual([401, 'Bearer realm="offload dashboard"', { error: 'missing credentials: send "authorization: Bearer TOKEN"' }]);
      const wrong = await fetch(url(path), { headers: { authorization: 'Bearer nope' } });
      expect([wrong.status, await wrong.json()]).toEqual([401, { error: 'invalid bearer token' }]);
    }
    expect((await snapshot({ authorization: `Bearer ${TOKEN}` })).workers).toHaveLength(1);
    const { response, events } = await listen({ authorization: `Bearer ${TOKEN}` });
    await eventually(() => expect(events.length).toBeGreaterThan(0));
    response.destroy();
    expect((await fetch(url('/'))).status).toBe(200);
    expect((await fetch(url('/metrics'))).status).toBe(200);
  });
});
