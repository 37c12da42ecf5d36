/**
 * BENCHMARKS.md's comparison of Node.js versions: every full run saves its
 * results as bench/results/node<major>.json as well, so the latest full run
 * on each major (`npm run bench`, `npm run bench:node24`) stays side by side
 * with the others, whichever ran last.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Summary } from './report.js';
import type { ServerName } from './servers.js';

/** What a saved run must hold to be compared. */
export interface VersionRun {
  startedAt: string;
  runs: number;
  machine: Record<string, string | number>;
  offloadNodeFlags?: string[];
  summary: Summary;
}

/** The file a full run on `nodeVersion` ("v24.21.0") is saved as. */
export function versionFile(resultsDir: string, nodeVersion: string): string {
  return join(resultsDir, `node${/^v?(\d+)/.exec(nodeVersion)?.[1] ?? 'unknown'}.json`);
}

export function readVersionRuns(resultsDir: string): VersionRun[] {
  if (!existsSync(resultsDir)) return [];
  return readdirSync(resultsDir)
    .filter((file) => /^node\d+\.json$/.test(file))
    .map((file) => JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as VersionRun)
    .sort((a, b) => Number(/\d+/.exec(String(a.machine['node']))?.[0]) - Number(/\d+/.exec(String(b.machine['node']))?.[0]));
}

/** offload's figure, and its ratio to a peer measured in the same run. */
const FIGURES: { label: string; id: string; digits: number; peer?: ServerName }[] = [
  { label: 'echo calls/s', id: 'overhead.rps', digits: 0, peer: 'inline' },
  { label: 'server CPU per echo call (µs)', id: 'overhead.cpuUsPerCall', digits: 0, peer: 'inline' },
  { label: 'batch items/s', id: 'batch.itemsPerSec', digits: 0, peer: 'inline' },
  { label: 'compute efficiency', id: 'compute.efficiency', digits: 3, peer: 'ceiling' },
  { label: 'ListTasks p99 while computing (ms)', id: 'loopfree.p99Ms', digits: 2 },
  { label: 'sha256 of 8 MiB (MB/s)', id: 'payload.mbPerSec', digits: 0, peer: 'python-seed' },
  { label: 'RSS growth under 1000 streams (MB)', id: 'streams.rssGrowthMB', digits: 1 },
];

export function renderNodeVersions(runs: readonly VersionRun[]): string[] {
  if (runs.length === 0) return [];
  const lines = [
    '## By Node.js version',
    '',
    'The latest full run on each Node.js major offload is tested on (`npm run bench` on the machine’s Node, `npm run bench:node24` on Node 24 from the npm registry): offload, the inline peer and the ceiling run on that version, the Python peer is the same in both. Each run is a separate run, so compare the ratios (offload ÷ a peer in the same run) rather than the absolute figures, which move with the machine’s load between runs.',
    '',
    `| figure | ${runs.map((run) => `Node ${String(run.machine['node'])}${run.offloadNodeFlags?.length ? ` (offload: \`${run.offloadNodeFlags.join(' ')}\`)` : ''}, ${run.startedAt.slice(0, 10)}, ${run.runs} runs`).join(' | ')} |`,
    `| --- | ${runs.map(() => '---:').join(' | ')} |`,
  ];
  for (const figure of FIGURES) {
    const cells = runs.map((run) => {
      const offload = run.summary[figure.id]?.offload?.median;
      if (offload === undefined) return '—';
      const peer = figure.peer ? run.summary[figure.id]?.[figure.peer]?.median : undefined;
      const ratio = peer ? ` (${(offload / peer).toFixed(2)}× ${figure.peer})` : '';
      return `${offload.toFixed(figure.digits)}${ratio}`;
    });
    lines.push(`| ${figure.label} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  return lines;
}
