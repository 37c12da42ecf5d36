/// <reference lib="dom" />
/**
 * Debian's Chromium driven by puppeteer-core, for the dashboard's browser
 * tests. scripts/ensure-system-deps.sh installs the browser; puppeteer-core
 * downloads none of its own.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots for a person to look at, left by the tests (not checked in). */
export const outputDir = fileURLToPath(new URL('../output', import.meta.url));

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(outputDir, { recursive: true });
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Containers have no user namespaces for Chromium's sandbox, nor a GPU.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** The page's visible text, whitespace folded. */
export async function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (node) => (node as HTMLElement).innerText.replace(/\s+/g, ' '));
}
