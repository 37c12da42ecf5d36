/**
 * The cache scenario's two offload servers (issue 14): the same command as
 * the benchmark's offload, one with its result cache on (`--cache-mb 64`, the
 * default size) and one with it off (`--cache-mb 0`, as the other scenarios
 * run it). Both run side by side for the whole run and are measured back to
 * back in interleaved pairs, so drift in the machine's load hits both alike;
 * each pair becomes one measurement holding both sides and their ratios.
 */
import type { ScenarioResult } from './scenarios.js';
import { startServer } from './servers.js';
import type { ServerHandle, ServerSetup } from './servers.js';
import { verifyServer } from './verify.js';

export const CACHE_CONFIGS = ['on', 'off'] as const;
export type CacheConfig = (typeof CACHE_CONFIGS)[number];
export type CachePair = Record<CacheConfig, ServerHandle>;

/** Appended to offload's flags; offload reads the last --cache-mb, whatever --offload-flags said. */
export const CACHE_FLAGS: Record<CacheConfig, string[]> = {
  on: ['--cache-mb', '64'],
  off: ['--cache-mb', '0'],
};

/**
 * Starts both servers at once and checks each honours the contract.
 * Settles, never rejects: the harness starts it alongside the other servers
 * and reads the outcome later.
 */
export async function startCachePair(setup: ServerSetup, runIndex: number, verifyTimeoutMs: number): Promise<{ pair: CachePair } | { error: string }> {
  const started = await Promise.allSettled(
    CACHE_CONFIGS.map((config) => startServer('offload', { ...setup, offloadFlags: [...setup.offloadFlags, ...CACHE_FLAGS[config]] }, runIndex, `offload-cache-${config}`)),
  );
  const handles = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  const problem = started.find((s) => s.status === 'rejected');
  const checked = problem
    ? []
    : await Promise.allSettled(handles.map((h, i) => verifyServer(`offload, cache ${CACHE_CONFIGS[i]!}`, h.address!, verifyTimeoutMs)));
  const failure = problem ?? checked.find((c) => c.status === 'rejected');
  if (failure) {
    await Promise.all(handles.map((h) => h.stop()));
    return { error: `cache: ${messageOf(failure.reason)}` };
  }
  return { pair: { on: handles[0]!, off: handles[1]! } };
}

/**
 * The order of each pair in run `runIndex`: on first, then off first, …
 * (two pairs make on off off on), and the next run begins the other way, so
 * neither configuration always goes first or last.
 */
export function pairOrders(runIndex: number, pairs: number): CacheConfig[][] {
  return Array.from({ length: pairs }, (_, i) => ((runIndex + i) % 2 === 0 ? ['on', 'off'] : ['off', 'on']));
}

/** Figures compared as on ÷ off within each pair (the rest are only shown side by side). */
const RATIOS = ['rps', 'p50Ms', 'cpuUsPerCall', 'mainThreadUsPerCall', 'loadgenUsPerCall'];

/**
 * One measurement from a pair: every figure twice (`rpsOn`, `rpsOff`), the
 * ratios taken inside the pair (`rpsRatio`), and which side went first.
 * The report's medians of the ratios are then medians over pairs.
 */
export function combinePair(on: ScenarioResult, off: ScenarioResult, onFirst: boolean): ScenarioResult {
  const metrics: Record<string, number> = { onFirst: onFirst ? 1 : 0, errorsOn: on.errors, errorsOff: off.errors };
  for (const [key, value] of Object.entries(on.metrics)) metrics[`${key}On`] = value;
  for (const [key, value] of Object.entries(off.metrics)) metrics[`${key}Off`] = value;
  for (const key of RATIOS) {
    const a = on.metrics[key];
    const b = off.metrics[key];
    if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0) metrics[`${key}Ratio`] = a / b;
  }
  return { metrics, errors: on.errors + off.errors, firstError: on.firstError ?? off.firstError };
}
