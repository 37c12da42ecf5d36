/// <reference lib="dom" />
/**
 * The dashboard in a real browser: Debian's Chromium opens the page on the
 * metrics port while a long spin stream runs and another waits behind it on
 * the one worker. Screenshots land in test/output/ for a person to look at.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { collect, connect, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startServer } from '../helpers/start-server.js';
import { launchBrowser, outputDir, textOf } from './browser.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => browser?.close());

async function openPage(port: number, width = 1280): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 900 });
  await page.goto(`http://127.0.0.1:${port}/`);
  return page;
}

describe('the dashboard, with one worker', () => {
  let server: ComputeServer;
  let client: ComputeClient;
  let closeClient: () => void;
  beforeAll(async () => {
    server = await startServer(['--workers', '1', '--metrics-port', '0']);
    ({ client, close: closeClient } = connect(server.address));
  });
  afterAll(async () => {
    closeClient?.();
    await server?.close();
  });

  it('shows a run progressing on its worker, the run queued behind it, and both outcomes', async () => {
    const page = await openPage(server.metricsPort!);
    await eventually(async () => expect(await textOf(page, '#workers')).toContain('Worker 1'));
    expect(await textOf(page, '#connection')).toBe('live');

    const long = collect(client.runStream({ task: 'spin', input: { ms: 4000, steps: 40 } }));
    await eventually(async () => expect(await textOf(page, '#workers')).toMatch(/running spin #\d+/));
    const queued = collect(client.runStream({ task: 'spin', input: { ms: 300, steps: 3 } }));

    const queueText = await eventually(async () => {
      const text = await textOf(page, '#queue');
      expect(text).toContain('1 run waits for a worker');
      return text;
    });
    expect(await page.title()).toBe('offload · 1/1 busy · 1 waiting');
    const queuedId = /#(\d+) spin/.exec(queueText)?.[1];
    expect(queuedId).toBeDefined();

    const progressOf = (): Promise<number> => page.$eval('#workers progress', (bar) => Number((bar).value));
    const first = await eventually(async () => {
      const value = await progressOf();
      expect(value).toBeGreaterThan(0);
      return value;
    });
    await eventually(async () => expect(await progressOf()).toBeGreaterThan(first));
    await page.screenshot({ path: join(outputDir, 'dashboard.png'), fullPage: true });

    await Promise.all([long, queued]);
    await eventually(async () => {
      expect(await textOf(page, '#queue')).toContain('Nothing is waiting for a worker.');
      const recent = await textOf(page, '#recent');
      expect(recent).toContain(`#${queuedId} spin`);
      expect(recent.match(/ OK /g)?.length).toBe(2);
      expect(await textOf(page, '#workers')).toContain('idle');
    });

    // The queued run's own page: admitted, started after its wait, progress seen, ended OK.
    await page.click(`#recent a[href="#run/${queuedId}"]`);
    await eventually(async () => {
      const detail = await textOf(page, '#run-page');
      expect(detail).toContain(`Run #${queuedId}: spin`);
      expect(detail).toMatch(/admitted.*started after waiting.*ended OK/);
    });
    await page.screenshot({ path: join(outputDir, 'dashboard-run.png'), fullPage: true });
    await page.close();
  });

  it('shows a task message holding <script> as text, and runs none of it', async () => {
    const page = await openPage(server.metricsPort!);
    const message = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';
    const said = collect(client.runStream({ task: 'fixture.say', input: { message, ms: 1500 } }));
    await eventually(async () => expect(await textOf(page, '#workers')).toContain(message));
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.$$eval('#workers script, #workers img', (nodes) => nodes.length)).toBe(0);
    await said;
    await page.close();
  });

  it('meets WCAG 2 A and AA as axe-core checks them, with runs on the page', async () => {
    const page = await browser.newPage();
    // axe-core goes in as an inline script, which the page's own policy rightly refuses.
    await page.setBypassCSP(true);
    await page.goto(`http://127.0.0.1:${server.metricsPort!}/`);
    const running = collect(client.runStream({ task: 'spin', input: { ms: 1500, steps: 15 } }));
    const waiting = collect(client.runStream({ task: 'spin', input: { ms: 100 } }));
    await eventually(async () => expect(await textOf(page, '#queue')).toContain('1 run waits'));
    await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
    const violations = (): Promise<string[]> =>
      page.evaluate(async () => {
        const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: { id: string; nodes: unknown[] }[] }> } }).axe;
        const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
        return result.violations.map((v) => `${v.id} (${v.nodes.length})`);
      });
    expect(await violations()).toEqual([]);
    await Promise.all([running, waiting]);
    await page.click('#recent a');
    await page.waitForSelector('#run-page:not([hidden]) table');
    expect(await violations()).toEqual([]);
    await page.close();
  });

  it('fits a narrow screen: nothing scrolls sideways but the tables inside their own box', async () => {
    const page = await openPage(server.metricsPort!, 375);
    await eventually(async () => expect(await textOf(page, '#recent')).toContain('OK'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(outputDir, 'dashboard-narrow.png'), fullPage: true });
    await page.close();
  });
});

describe('the dashboard behind bearer tokens', () => {
  const TOKEN = 'dashboard-token-5c1f0e';
  let server: ComputeServer;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'offload-dashboard-'));
    await writeFile(join(dir, 'tokens'), `ops:${TOKEN}\n`);
    server = await createComputeServer(loadConfig(['--port', '0', '--workers', '1', '--metrics-port', '0', '--auth-token-file', join(dir, 'tokens')], {}));
  });
  afterAll(async () => server?.close());

  it('asks for the token, refuses a wrong one, and keeps the right one for the tab', async () => {
    const page = await openPage(server.metricsPort!);
    await page.waitForSelector('#token-form:not([hidden])');
    expect(await page.$eval('#overview', (node) => (node as HTMLElement).hidden)).toBe(true);

    await page.type('#token', 'not-the-token');
    await page.click('#token-form button');
    await eventually(async () => expect(await textOf(page, '#token-error')).toContain('did not accept that token'));

    await page.type('#token', TOKEN);
    await page.click('#token-form button');
    await eventually(async () => expect(await textOf(page, '#connection')).toBe('live'));
    expect(await textOf(page, '#workers')).toContain('Worker 1');
    expect(await page.evaluate(() => sessionStorage.getItem('offload-dashboard-token'))).toBe(TOKEN);

    // Reloading the tab keeps it; the page asks no more.
    await page.reload();
    await eventually(async () => expect(await textOf(page, '#connection')).toBe('live'));
    await page.close();
  });
});
