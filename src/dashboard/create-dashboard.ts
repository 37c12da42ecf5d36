/**
 * Puts the dashboard together for the metrics port: the server's fixed
 * facts, snapshots of the pool and the run history, and the routes, with
 * the bearer tokens when the server has them.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { packageFile } from '../package-paths.js';
import type { TaskPool } from '../pool/task-pool.js';
import { createTokenCheck } from '../server/bearer-auth.js';
import type { Drain } from '../server/drain.js';
import { createDashboardRoutes, type DashboardRoutes } from './dashboard-routes.js';
import { createSnapshots, type ServerFacts } from './dashboard-snapshot.js';
import type { RunHistory } from './run-history.js';

export interface DashboardDeps {
  pool: TaskPool;
  history: RunHistory;
  drain: Drain;
  /** When the server started, ms since the epoch. */
  startedAt: number;
}

export function createDashboard(config: Config, deps: DashboardDeps): DashboardRoutes {
  const snapshots = createSnapshots({ pool: deps.pool, history: deps.history, drain: deps.drain, facts: serverFacts(config, deps.startedAt) });
  return createDashboardRoutes({ ...snapshots, checkToken: config.auth.length > 0 ? createTokenCheck(config.auth) : undefined });
}

function serverFacts(config: Config, startedAt: number): ServerFacts {
  const { version } = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  const limit = (ms: number): string => (ms === 0 ? 'none' : `${ms} ms`);
  return {
    version,
    node: process.version,
    startedAt,
    workers: config.workers,
    flags: [
      ['workers', String(config.workers)],
      ['max-queue', String(config.maxQueue)],
      ['max-queue-per-tenant', String(config.maxQueuePerTenant)],
      ['max-queue-ms', limit(config.maxQueueMs)],
      ['max-run-ms', limit(config.maxRunMs)],
      ['priority-aging-ms', limit(config.priorityAgingMs)],
      ['cache-mb', config.cacheMb === 0 ? 'off' : String(config.cacheMb)],
      ['worker-max-memory-mb', config.workerMaxMemoryMb === 0 ? "V8's default" : String(config.workerMaxMemoryMb)],
      ['crash-limit', config.crashLimit === 0 ? 'never' : String(config.crashLimit)],
      ['auth-token-file', config.auth.length === 0 ? 'no auth' : `${config.auth.length} ${config.auth.length === 1 ? 'token' : 'tokens'}`],
      ['tls-cert', config.tls ? (config.tls.clientCa ? 'mutual TLS' : 'TLS') : 'plaintext'],
      ['otel', config.tracing ? 'on' : 'off'],
      ['tasks', config.taskDirs.length === 0 ? 'bundled only' : config.taskDirs.join(', ')],
    ],
  };
}
