/**
 * Scenarios that compare offload with itself in two configurations (cache on
 * and off, fair queuing and plain FIFO), measured back to back in
 * interleaved pairs: on this 2-core machine drift in the load of other
 * processes then hits both sides alike, and each pair becomes one
 * measurement holding both sides and their ratios.
 */
import type { ScenarioResult } from './scenarios.js';
import { startServer } from './servers.js';
import type { ServerHandle, ServerSetup } from './servers.js';
import { verifyServer } from './verify.js';

/** A pair's two configurations, the first one named first in figures and tables. */
export type Configs<C extends string> = readonly [C, C];

/**
 * The order of each pair in run `runIndex`: the first configuration first,
 * then the second first, … (two pairs make a b b a), and the next run begins
 * the other way, so neither always goes first or last.
 */
export function pairOrders<C extends string>(configs: Configs<C>, runIndex: number, pairs: number): C[][] {
  const [a, b] = configs;
  return Array.from({ length: pairs }, (_, i) => ((runIndex + i) % 2 === 0 ? [a, b] : [b, a]));
}

const capitalized = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * One measurement from a pair: every figure of each side under its
 * configuration's name (`rpsOn`, `rpsOff`), the ratios `numerator ÷
 * denominator` of `ratios` taken inside the pair (`rpsRatio`), and whether
 * the first configuration went first (`onFirst`). The report's medians of the
 * ratios are then medians over pairs.
 */
export function combinePair<C extends string>(
  configs: Configs<C>,
  results: Record<C, ScenarioResult>,
  first: C,
  [numerator, denominator]: Configs<C>,
  ratios: readonly string[],
): ScenarioResult {
  const metrics: Record<string, number> = { [`${configs[0]}First`]: first === configs[0] ? 1 : 0 };
  for (const config of configs) metrics[`errors${capitalized(config)}`] = results[config].errors;
  for (const config of configs) {
    for (const [key, value] of Object.entries(results[config].metrics)) metrics[`${key}${capitalized(config)}`] = value;
  }
  for (const key of ratios) {
    const a = results[numerator].metrics[key];
    const b = results[denominator].metrics[key];
    if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0) metrics[`${key}Ratio`] = a / b;
  }
  const [x, y] = configs.map((config) => results[config]);
  return { metrics, errors: x!.errors + y!.errors, firstError: x!.firstError ?? y!.firstError };
}

/**
 * Starts one offload server per variant at once, each with the benchmark's
 * offload flags and the variant's appended (offload reads the last of a
 * repeated flag), and checks each honours the contract. Settles, never
 * rejects: the harness starts them alongside the other servers and reads
 * the outcome later. `label` names them in logs and errors.
 */
export async function startOffloads<V extends string>(
  setup: ServerSetup,
  runIndex: number,
  flags: Record<V, string[]>,
  verifyTimeoutMs: number,
  label: string,
  env?: Record<V, Readonly<Record<string, string | undefined>>>,
): Promise<{ servers: Record<V, ServerHandle> } | { error: string }> {
  const variants = Object.keys(flags) as V[];
  const started = await Promise.allSettled(
    variants.map((variant) =>
      startServer('offload', { ...setup, offloadFlags: [...setup.offloadFlags, ...flags[variant]], offloadEnv: env?.[variant] }, runIndex, `offload-${label}${variants.length > 1 ? `-${variant}` : ''}`),
    ),
  );
  const handles = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  const problem = started.find((s) => s.status === 'rejected');
  const checked = problem
    ? []
    : await Promise.allSettled(handles.map((h, i) => verifyServer(`offload, ${label}${variants.length > 1 ? ` ${variants[i]!}` : ''}`, h.address!, verifyTimeoutMs)));
  const failure = problem ?? checked.find((c) => c.status === 'rejected');
  if (failure) {
    await Promise.all(handles.map((h) => h.stop()));
    return { error: `${label}: ${messageOf(failure.reason)}` };
  }
  return { servers: Object.fromEntries(variants.map((variant, i) => [variant, handles[i]!])) as Record<V, ServerHandle> };
}
