/**
 * The cache scenario's two offload servers (issue 14): the same command as
 * the benchmark's offload, one with its result cache on (`--cache-mb 64`, the
 * default size) and one with it off (`--cache-mb 0`, as the other scenarios
 * run it). Both run side by side for the whole run and are measured back to
 * back in interleaved pairs (./pairs.ts).
 */
import * as pairs from './pairs.js';
import type { ScenarioResult } from './scenarios.js';
import type { ServerHandle, ServerSetup } from './servers.js';

export const CACHE_CONFIGS = ['on', 'off'] as const;
export type CacheConfig = (typeof CACHE_CONFIGS)[number];
export type CachePair = Record<CacheConfig, ServerHandle>;

/** Appended to offload's flags; offload reads the last --cache-mb, whatever --offload-flags said. */
export const CACHE_FLAGS: Record<CacheConfig, string[]> = {
  on: ['--cache-mb', '64'],
  off: ['--cache-mb', '0'],
};

/** Starts both servers at once and checks each honours the contract; settles, never rejects. */
export async function startCachePair(setup: ServerSetup, runIndex: number, verifyTimeoutMs: number): Promise<{ pair: CachePair } | { error: string }> {
  const started = await pairs.startOffloads(setup, runIndex, CACHE_FLAGS, verifyTimeoutMs, 'cache');
  return 'error' in started ? started : { pair: started.servers };
}

/** The order of each pair in run `runIndex`: on off, off on, …, the next run beginning the other way. */
export function pairOrders(runIndex: number, count: number): CacheConfig[][] {
  return pairs.pairOrders(CACHE_CONFIGS, runIndex, count);
}

/** Figures compared as on ÷ off within each pair (the rest are only shown side by side). */
const RATIOS = ['rps', 'p50Ms', 'cpuUsPerCall', 'mainThreadUsPerCall', 'loadgenUsPerCall'];

/** One measurement from a pair: `rpsOn`, `rpsOff`, `rpsRatio` (on ÷ off), `onFirst`. */
export function combinePair(on: ScenarioResult, off: ScenarioResult, onFirst: boolean): ScenarioResult {
  return pairs.combinePair(CACHE_CONFIGS, { on, off }, onFirst ? 'on' : 'off', ['on', 'off'], RATIOS);
}
