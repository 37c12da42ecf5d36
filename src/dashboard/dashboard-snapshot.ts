/**
 * The dashboard's picture of the server at one moment, built from state the
 * server keeps anyway (the pool's live jobs, the run history, the drain) and
 * sent to the page as JSON. Lists are capped, so a snapshot costs the same
 * with a thousand runs waiting as with ten: the queue is counted in full but
 * only its first QUEUE_SHOWN runs are listed.
 */
import type { Job } from '../pool/job.js';
import type { PoolView, QueueDepth } from '../pool/task-pool.js';
import { queueDepths } from '../pool/tenant-load.js';
import type { EndedRun, ProgressSeen, RunHistory } from './run-history.js';
import type { SeriesPoint } from './run-series.js';

export const QUEUE_SHOWN = 25;

/** What the page shows of the server itself; fixed at start. */
export interface ServerFacts {
  version: string;
  node: string;
  startedAt: number;
  workers: number;
  /** Flags that matter to someone looking at the queue, as name and value. */
  flags: readonly (readonly [string, string])[];
}

export interface DashboardSources {
  pool: { view(): PoolView };
  history: RunHistory;
  drain: { readonly draining: boolean; readonly active: number };
  facts: ServerFacts;
  now?: () => number;
}

export interface RunView {
  id: number;
  task: string;
  tenant: string;
  priority: string;
  job: string | undefined;
  item: string | undefined;
  /** queued: in the queue; sent: handed to a busy worker, next in its line; running. */
  state: 'queued' | 'sent' | 'running';
  submittedAt: number;
  waitedMs: number;
  runningMs: number | undefined;
  thread: number | undefined;
  progress: { fraction: number; message: string } | undefined;
}

export interface Snapshot {
  at: number;
  server: ServerFacts & { uptimeMs: number; draining: boolean; inFlight: number };
  workers: { thread: number; run: RunView | undefined }[];
  queue: { waiting: number; oldestWaitMs: number | undefined; depths: QueueDepth[]; first: RunView[] };
  recent: Omit<EndedRun, 'progress'>[];
  charts: SeriesPoint[];
  restarts: number;
  suspended: { task: string; crashes: number; forMs: number }[];
}

export interface RunDetail {
  run: RunView | Omit<EndedRun, 'progress'>;
  ended: boolean;
  progress: readonly ProgressSeen[];
}

const PRIORITY_ORDER: Record<string, number> = { high: 0, normal: 1, low: 2 };

export function createSnapshots(sources: DashboardSources): { snapshot(): Snapshot; run(id: number): RunDetail | undefined } {
  const now = sources.now ?? Date.now;
  return {
    snapshot() {
      const at = now();
      const view = sources.pool.view();
      const live = [...view.jobs];
      sources.history.sample(live);
      const byThread = new Map<number, RunView>();
      const first: RunView[] = [];
      let waiting = 0;
      let oldest: number | undefined;
      // A view is made only of a run the page lists: a worker's, or one of the first in line.
      for (const job of live) {
        if (job.state === 'running') {
          const run = runView(job, view, at);
          if (run.thread !== undefined) byThread.set(run.thread, run);
          continue;
        }
        waiting++;
        oldest = Math.min(oldest ?? Infinity, job.submittedAt);
        if (first.length < QUEUE_SHOWN) first.push(runView(job, view, at));
      }
      const depths = queueDepths(live).sort((a, b) => PRIORITY_ORDER[a.priority]! - PRIORITY_ORDER[b.priority]! || a.tenant.localeCompare(b.tenant));
      return {
        at,
        server: { ...sources.facts, uptimeMs: at - sources.facts.startedAt, draining: sources.drain.draining, inFlight: sources.drain.active },
        workers: view.threads.map((thread) => ({ thread, run: byThread.get(thread) })),
        queue: { waiting, oldestWaitMs: oldest === undefined ? undefined : at - oldest, depths, first },
        recent: sources.history.recent().map(withoutProgress),
        charts: sources.history.series.points(at),
        restarts: sources.history.restarts,
        suspended: view.suspended.map(({ task, crashes, until }) => ({ task, crashes, forMs: Math.max(0, until - at) })),
      };
    },
    run(id) {
      const view = sources.pool.view();
      for (const job of view.jobs) {
        if (job.id === id) return { run: runView(job, view, now()), ended: false, progress: sources.history.progressOf(id) };
      }
      const ended = sources.history.find(id);
      return ended && { run: withoutProgress(ended), ended: true, progress: ended.progress };
    },
  };
}

function runView(job: Job, view: PoolView, at: number): RunView {
  const state = job.state;
  const { task, tenant, priority, job: jobId, item } = job.request;
  const startedAt = job.startedAt;
  return {
    id: job.id,
    task,
    tenant,
    priority,
    job: jobId,
    item,
    state: state === 'running' ? 'running' : state === 'sent' ? 'sent' : 'queued',
    submittedAt: job.submittedAt,
    waitedMs: (startedAt ?? at) - job.submittedAt,
    runningMs: startedAt === undefined ? undefined : at - startedAt,
    thread: state === 'running' ? view.threadOf(job) : undefined,
    progress: job.latestProgress && { fraction: job.latestProgress.fraction, message: job.latestProgress.message },
  };
}

function withoutProgress(run: EndedRun): Omit<EndedRun, 'progress'> {
  const { progress: _progress, ...rest } = run;
  return rest;
}
