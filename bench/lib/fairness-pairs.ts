/**
 * The fairness scenario's offload server (issue 15) and its two
 * configurations. Both run on the one server: what differs is only whether
 * the callers name a tenant. fair: the flood and the light caller are two
 * tenants, which take turns in offload's queue; fifo: neither names one, so
 * both are `default` and share one first-in-first-out line, as every call
 * did before tenants (no server flag turns fair queuing off).
 */
import * as pairs from './pairs.js';
import type { FairnessTenants, ScenarioParams, ScenarioResult } from './scenarios.js';
import type { ServerHandle, ServerSetup } from './servers.js';

export const FAIRNESS_CONFIGS = ['fair', 'fifo'] as const;
export type FairnessConfig = (typeof FAIRNESS_CONFIGS)[number];

/** The `offload-tenant` each caller sends; fifo: none. */
export const FAIRNESS_TENANTS: Record<FairnessConfig, FairnessTenants | undefined> = {
  fair: { flood: 'flood', light: 'light' },
  fifo: undefined,
};

/**
 * Appended to offload's flags: room in the queue for four floods, whatever
 * --offload-flags said (offload reads the last --max-queue), so no call is
 * ever refused and the figures measure the queue's order, not its bound.
 */
export function fairnessFlags(p: ScenarioParams['fairness']): string[] {
  return ['--max-queue', String(4 * p.floodInFlight)];
}

/** Starts the server and checks it honours the contract; settles, never rejects. */
export async function startFairnessServer(setup: ServerSetup, p: ScenarioParams['fairness'], runIndex: number, verifyTimeoutMs: number): Promise<{ server: ServerHandle } | { error: string }> {
  const started = await pairs.startOffloads(setup, runIndex, { fairness: fairnessFlags(p) }, verifyTimeoutMs, 'fairness');
  return 'error' in started ? started : { server: started.servers.fairness };
}

/** The order of each pair in run `runIndex`: fair fifo, fifo fair, …, the next run beginning the other way. */
export function pairOrders(runIndex: number, count: number): FairnessConfig[][] {
  return pairs.pairOrders(FAIRNESS_CONFIGS, runIndex, count);
}

/** Figures compared as fifo ÷ fair within each pair: how much longer the light caller waits without fair queuing. */
const RATIOS = ['p50Ms', 'p99Ms', 'floodRps', 'totalRps'];

/** One measurement from a pair: `p50MsFair`, `p50MsFifo`, `p50MsRatio` (fifo ÷ fair), `fairFirst`. */
export function combinePair(fair: ScenarioResult, fifo: ScenarioResult, fairFirst: boolean): ScenarioResult {
  return pairs.combinePair(FAIRNESS_CONFIGS, { fair, fifo }, fairFirst ? 'fair' : 'fifo', ['fifo', 'fair'], RATIOS);
}
