/**
 * Makes the README's picture of the dashboard, docs/dashboard.png, from a
 * real server under a little load: two workers running spin with progress,
 * runs waiting for two tenants, some ended (one failed). Run it by hand
 * after changing the page: `npx tsx test/dashboard/readme-screenshot.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Metadata } from 'nice-grpc';
import { loadConfig } from '../../src/config.js';
import { createComputeServer } from '../../src/server/create-compute-server.js';
import { collect, connect } from '../helpers/client.js';
import { fixtureTasksDir } from '../helpers/start-server.js';
import { launchBrowser } from './browser.js';

const target = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const server = await createComputeServer(loadConfig(['--port', '0', '--workers', '2', '--metrics-port', '0', '--tasks', fixtureTasksDir], {}));
const { client, close } = connect(server.address);
const as = (tenant: string) => ({ metadata: Metadata({ 'offload-tenant': tenant }) });
const quiet = (call: Promise<unknown>): void => void call.catch(() => {});

// A history first: half a minute of short runs from two tenants, one failing now and then.
const until = Date.now() + 30_000;
const loop = async (tenant: string, ms: number): Promise<void> => {
  for (let i = 0; Date.now() < until; i++) {
    if (i % 25 === 24) await client.run({ task: 'fixture.task-error', input: { code: 'INVALID_ARGUMENT', message: 'page 7 has no text layer' } }, as(tenant)).catch(() => {});
    else await client.run({ task: 'spin', input: { ms: ms + ((i * 37) % 60) } }, as(tenant));
  }
};
await Promise.all([loop('search', 20), loop('billing', 60), loop('search', 40)]);

// Then the present: both workers busy with progress, runs waiting behind them.
quiet(collect(client.runStream({ task: 'spin', input: { ms: 20_000, steps: 200 } }, as('search'))));
quiet(collect(client.runStream({ task: 'spin', input: { ms: 12_000, steps: 100 } }, as('billing'))));
await sleep(500);
for (let i = 0; i < 5; i++) quiet(client.run({ task: 'spin', input: { ms: 3000 } }, as(i % 2 ? 'search' : 'billing')));
quiet(client.submit({ task: 'primes', input: { limit: 2_000_000 }, jobId: 'nightly-report-42', priority: 1 }, as('billing')));

const browser = await launchBrowser();
const page = await browser.newPage();
await page.setViewport({ width: 1100, height: 900 });
await page.goto(`http://127.0.0.1:${server.metricsPort}/`);
await sleep(2500);
await page.screenshot({ path: target, fullPage: true });
console.log(`wrote ${target}`);
await browser.close();
close();
await server.close();
