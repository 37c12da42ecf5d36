/**
 * The dashboard's HTTP side, on the metrics port: the page and its assets
 * (served from src/dashboard/page/, no CDN, no build step), a snapshot as
 * JSON, a run's detail, and the live feed as server-sent events. With
 * tokens configured every data route wants one; the page itself holds no
 * data, so it loads without one and asks for it.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors } from '../errors.js';
import { packageFile } from '../package-paths.js';
import type { RunDetail, Snapshot } from './dashboard-snapshot.js';
import { createEventFeed, type EventFeed } from './event-feed.js';

/** The page's files by URL; shipped as they are (deploy/Dockerfile copies src/dashboard/page). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: packageFile('src/dashboard/page/index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: packageFile('src/dashboard/page/app.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/render.js': { file: packageFile('src/dashboard/page/render.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/charts.js': { file: packageFile('src/dashboard/page/charts.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: packageFile('src/dashboard/page/style.css'), type: 'text/css; charset=utf-8' },
};

/**
 * Caller input (task messages, job ids) reaches the page only as text, and
 * this policy would stop a script that slipped through anyway: nothing runs
 * but the page's own files, and nothing is fetched from elsewhere.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface DashboardRoutes {
  /** Answers the request when it is the dashboard's; false when it is not. */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
  /** Ends the open feeds, so the port can close. */
  close(): void;
}

export interface DashboardRoutesOptions {
  snapshot: () => Snapshot;
  run: (id: number) => RunDetail | undefined;
  /** With tokens configured: the tenant of an `authorization` header, undefined when it is not accepted. */
  checkToken: ((header: string) => string | undefined) | undefined;
  /** Time between updates of the live feed; default 250 ms (4 a second). */
  intervalMs?: number;
}

export function createDashboardRoutes(options: DashboardRoutesOptions): DashboardRoutes {
  const assets = new Map(Object.entries(ASSETS).map(([path, { file, type }]) => [path, { body: readFileSync(file), type }]));
  const feed: EventFeed = createEventFeed(() => JSON.stringify(options.snapshot()), options.intervalMs ?? 250);
  const allowed = (request: IncomingMessage, response: ServerResponse): boolean => {
    if (!options.checkToken) return true;
    const header = request.headers.authorization;
    if (header !== undefined && options.checkToken(header) !== undefined) return true;
    const error = header === undefined ? Errors.missingCredentials : Errors.invalidToken;
    json(response, 401, { error: error.message }, { 'www-authenticate': 'Bearer realm="offload dashboard"' });
    return false;
  };

  return {
    handle(request, response) {
      const path = (request.url ?? '/').split('?')[0]!;
      const asset = assets.get(path);
      if (!asset && !path.startsWith('/dashboard/')) return false;
      const allow = asset ? ['GET', 'HEAD'] : ['GET'];
      if (!allow.includes(request.method ?? '')) {
        response.writeHead(405, { allow: allow.join(', '), 'content-type': 'text/plain' }).end('method not allowed\n');
        return true;
      }
      if (asset) {
        response.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', ...SECURITY_HEADERS }).end(request.method === 'HEAD' ? undefined : asset.body);
        return true;
      }
      if (!allowed(request, response)) return true;
      if (path === '/dashboard/api/events') {
        feed.add(response);
        return true;
      }
      if (path === '/dashboard/api/snapshot') {
        json(response, 200, options.snapshot());
        return true;
      }
      const runId = /^\/dashboard\/api\/runs\/(\d{1,15})$/.exec(path)?.[1];
      const detail = runId === undefined ? undefined : options.run(Number(runId));
      if (detail) json(response, 200, detail);
      else json(response, 404, { error: runId === undefined ? `no such page: ${path}` : `run ${runId} is neither live nor among the recently ended` });
      return true;
    },
    close: () => feed.close(),
  };
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers }).end(JSON.stringify(body));
}
