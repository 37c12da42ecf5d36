/**
 * bench/results/latest.json: every measurement of a run and how it was
 * made. A run of some scenarios can be merged into the published one
 * (`--merge`) instead of replacing it, so a new scenario is published
 * without measuring every other one again; the merged run is recorded, and
 * BENCHMARKS.md names it next to the run it joined.
 */
import type { Measurement } from './report.js';
import { SCENARIOS } from './scenarios.js';
import type { ScenarioName, ScenarioParams } from './scenarios.js';
import type { ServerName } from './servers.js';

export interface ResultsFile {
  mode: 'full' | 'quick';
  runs: number;
  startedAt: string;
  durationS: number;
  /** The npm script that ran it (`npm run bench:node24`); absent in files written before it was recorded. */
  command?: string;
  machine: Record<string, string | number>;
  params: ScenarioParams;
  offloadFlags: string[];
  offloadNodeFlags?: string[];
  /** Flags the harness gives offload itself, before offloadFlags (`--metrics-port 0`); absent in files written before it did. */
  offloadHarnessFlags?: string[];
  /** Flags the harness gives node before offload's entry (`--inspect-port=127.0.0.1:0`); absent before it did. */
  offloadHarnessNodeFlags?: string[];
  servers: ServerName[];
  scenarios: ScenarioName[];
  failures: string[];
  measurements: Measurement[];
  /** Later runs whose scenarios replaced this run's figures for them. */
  merged?: MergedRun[];
}

export interface MergedRun {
  scenarios: ScenarioName[];
  /** The whole command line, arguments included. */
  command: string;
  startedAt: string;
  durationS: number;
  runs: number;
  machine: Record<string, string | number>;
  offloadNodeFlags?: string[];
  offloadHarnessNodeFlags?: string[];
}

/** Why `fresh` cannot join `base`, if it cannot: figures from different Node.js majors or modes do not belong in one table. */
export function mergeProblem(base: Pick<ResultsFile, 'mode' | 'machine'>, mode: ResultsFile['mode'], nodeVersion: string): string | undefined {
  const major = (version: unknown): string | undefined => /^v?(\d+)/.exec(String(version))?.[1];
  if (base.mode !== mode) return `latest.json holds a ${base.mode} run; --merge needs the same mode`;
  if (major(base.machine['node']) !== major(nodeVersion)) return `latest.json was measured on Node ${String(base.machine['node'])}; --merge needs the same major (this is ${nodeVersion})`;
  return undefined;
}

/**
 * `base` with the scenarios `fresh` measured in place of its own figures for
 * them: their measurements, parameters and failures; every other scenario
 * as `base` measured it (one `fresh` chose but could not run, say without
 * offload, too). `fresh` is recorded in `merged`, replacing an earlier merge
 * of the same scenarios.
 */
export function mergeResults(base: ResultsFile, fresh: ResultsFile, commandLine: string): ResultsFile {
  const replaced = new Set(fresh.scenarios.filter((s) => fresh.measurements.some((m) => m.scenario === s)));
  const params = { ...base.params } as Record<ScenarioName, unknown>;
  for (const scenario of fresh.scenarios) params[scenario] = fresh.params[scenario];
  const earlier = (base.merged ?? [])
    .map((run) => ({ ...run, scenarios: run.scenarios.filter((s) => !replaced.has(s)) }))
    .filter((run) => run.scenarios.length > 0);
  return {
    ...base,
    command: base.command ?? fresh.command,
    params: params as unknown as ScenarioParams,
    scenarios: SCENARIOS.filter((s) => base.scenarios.includes(s) || replaced.has(s)),
    // A failure names its scenario after the run and maybe a server ("run 2: offload fairness fair: …",
    // "run 1: cache: … did not start"); base's for a replaced scenario go with its figures.
    failures: [...base.failures.filter((f) => ![...replaced].some((s) => new RegExp(`^run \\d+: (\\S+ )?${s}\\b`).test(f))), ...fresh.failures],
    measurements: [...base.measurements.filter((m) => !replaced.has(m.scenario)), ...fresh.measurements],
    merged: [
      ...earlier,
      {
        scenarios: [...replaced],
        command: commandLine,
        startedAt: fresh.startedAt,
        durationS: fresh.durationS,
        runs: fresh.runs,
        machine: fresh.machine,
        offloadNodeFlags: fresh.offloadNodeFlags,
        offloadHarnessNodeFlags: fresh.offloadHarnessNodeFlags,
      },
    ],
  };
}
