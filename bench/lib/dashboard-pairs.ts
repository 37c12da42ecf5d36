/**
 * The dashboard scenario's offload server (issue 18) and its two
 * configurations. Both run on the one server: what differs is only whether
 * a dashboard page listens. open: the harness reads offload's live feed
 * (`GET /dashboard/api/events` on the metrics port) throughout, as a
 * browser tab does, so offload builds a snapshot of itself every 250 ms and
 * sends it; closed: nobody listens, and offload builds nothing. The
 * dashboard needs no server flag: it comes with `--metrics-port`, which the
 * harness gives every offload it starts.
 */
import * as pairs from './pairs.js';
import type { ScenarioParams, ScenarioResult } from './scenarios.js';
import type { ServerHandle, ServerSetup } from './servers.js';

export const DASHBOARD_CONFIGS = ['open', 'closed'] as const;
export type DashboardConfig = (typeof DASHBOARD_CONFIGS)[number];

/** Whether a page reads the feed in each configuration. */
export const DASHBOARD_PAGE: Record<DashboardConfig, boolean> = { open: true, closed: false };

/**
 * Appended to offload's flags: room in the queue for four times the streams,
 * whatever --offload-flags said (offload reads the last --max-queue), so no
 * stream is ever refused and the queue is as long as the scenario says.
 */
export function dashboardFlags(p: ScenarioParams['dashboard']): string[] {
  return ['--max-queue', String(4 * p.count)];
}

/** Starts the server and checks it honours the contract; settles, never rejects. */
export async function startDashboardServer(setup: ServerSetup, p: ScenarioParams['dashboard'], runIndex: number, verifyTimeoutMs: number): Promise<{ server: ServerHandle } | { error: string }> {
  const started = await pairs.startOffloads(setup, runIndex, { dashboard: dashboardFlags(p) }, verifyTimeoutMs, 'dashboard');
  if ('error' in started) return started;
  const server = started.servers.dashboard;
  if (!server.metricsUrl) {
    await server.stop();
    return { error: 'dashboard: offload named no metrics endpoint in its log, so the page has nowhere to connect' };
  }
  return { server };
}

/** The order of each pair in run `runIndex`: open closed, closed open, …, the next run beginning the other way. */
export function pairOrders(runIndex: number, count: number): DashboardConfig[][] {
  return pairs.pairOrders(DASHBOARD_CONFIGS, runIndex, count);
}

/** Figures compared as open ÷ closed within each pair: what a page listening costs the probe and the main thread. */
const RATIOS = ['p50Ms', 'p99Ms', 'maxMs', 'mainThreadCores'];

/** One measurement from a pair: `p99MsOpen`, `p99MsClosed`, `p99MsRatio` (open ÷ closed), `openFirst`. */
export function combinePair(open: ScenarioResult, closed: ScenarioResult, openFirst: boolean): ScenarioResult {
  return pairs.combinePair(DASHBOARD_CONFIGS, { open, closed }, openFirst ? 'open' : 'closed', ['open', 'closed'], RATIOS);
}

/** What makes one configuration's figures worthless: the streams or the page were not what the scenario says. */
export function sideProblems({ metrics, firstError }: ScenarioResult): string[] {
  const why = firstError ? ` (${firstError})` : '';
  return [
    ...((metrics['streamsFailed'] ?? 0) > 0 ? [`${metrics['streamsFailed']} streams failed${why}`] : []),
    ...((metrics['streamsNotOpen'] ?? 0) > 0 ? [`${metrics['streamsNotOpen']} of ${metrics['streamCount']} streams never opened${why}`] : []),
    ...((metrics['runsLeftAfterSettle'] ?? 0) !== 0 ? [`offload did not let go of the cancelled streams' runs${why}`] : []),
    // The first event comes at once; a page that got no other while it was open was not fed.
    ...((metrics['feedEventsTotal'] ?? 2) < 2 ? [`the page got ${metrics['feedEventsTotal']} event from the feed in all the time it was open`] : []),
    ...((metrics['feedErrors'] ?? 0) > 0 ? [`the page's feed broke${why}`] : []),
  ];
}
