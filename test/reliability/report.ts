/**
 * Figures for RELIABILITY.md, produced by the suite itself. Every test makes
 * a row with `report.scenario(...)` and fills it in as it goes; when the test
 * finishes its outcome (pass or FAIL, with the first assertion message) is
 * set, and after the file its rows are saved to
 * .tmp/reliability/results/<file>.json. Then RELIABILITY.md is written again
 * from every results file, so running one file updates only its rows.
 */
import { cpus } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, onTestFinished } from 'vitest';
import { repoRoot, workDir, type Sample } from './server-process.js';
import type { Tally } from './raw-client.js';
import { CALL_BUDGET_MS, HEAP_SLACK_MB, RSS_SLACK_MB } from './common.js';

export const GROUPS = ['Hostile input', 'Faults', 'Load and churn', 'Shutdown under load'] as const;
export type Group = (typeof GROUPS)[number];

export interface Row {
  group: Group;
  scenario: string;
  /** Calls (or batch items) sent. */
  calls: number;
  /** Status name → how many calls ended with it. */
  statuses: Record<string, number>;
  worstMs: number | undefined;
  before: Sample | undefined;
  after: Sample | undefined;
  /** Highest RSS seen while the scenario ran, MB. */
  peakRssMb: number | undefined;
  /** Worker restarts (offload_worker_restarts_total) during the scenario. */
  restarts: number | undefined;
  notes: string[];
  /** What went wrong, one line per call or check, as the test listed it. */
  problems: string[];
  seconds: number;
  result: 'pass' | 'FAIL' | 'unfinished';
  /** The assertion messages of a failed test (first lines of each). */
  failure: string | undefined;
  file: string;
  order: number;
}

export interface Report {
  scenario(group: Group, name: string): Row;
}

const resultsDir = join(workDir, 'results');
const reportFile = join(repoRoot, 'RELIABILITY.md');

/** Rows of one test file; registers the afterAll that saves them and rewrites RELIABILITY.md. */
export function createReport(file: string): Report {
  const rows: Row[] = [];
  afterAll(() => {
    mkdirSync(resultsDir, { recursive: true });
    const target = join(resultsDir, `${file}.json`);
    writeFileSync(`${target}.tmp`, JSON.stringify({ file, at: new Date().toISOString(), rows }, null, 2));
    renameSync(`${target}.tmp`, target);
    writeMarkdown();
  });
  return {
    scenario(group, name) {
      const started = performance.now();
      const row: Row = {
        group,
        scenario: name,
        calls: 0,
        statuses: {},
        worstMs: undefined,
        before: undefined,
        after: undefined,
        peakRssMb: undefined,
        restarts: undefined,
        notes: [],
        problems: [],
        seconds: 0,
        result: 'unfinished',
        failure: undefined,
        file,
        order: rows.length,
      };
      rows.push(row);
      onTestFinished(({ task }) => {
        row.seconds = Math.round((performance.now() - started) / 100) / 10;
        const state = task.result?.state;
        row.result = state === 'pass' ? 'pass' : state === 'fail' ? 'FAIL' : 'unfinished';
        const errors = task.result?.errors ?? [];
        if (errors.length > 0) row.failure = errors.map((error) => firstLines(String(error.message ?? error), 4)).join('\n');
      });
      return row;
    },
  };
}

/** Copies a tally's figures into a row. */
export function fill(row: Row, tally: Tally): void {
  row.calls = tally.calls;
  row.statuses = tally.toJSON();
  row.worstMs = Math.round(tally.worstMs);
}

function firstLines(text: string, n: number): string {
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
  const lines = plain.split('\n').filter((line) => line.trim() !== '');
  return lines.slice(0, n).join('\n') + (lines.length > n ? '\n…' : '');
}

function readRows(): { rows: Row[]; runs: string[] } {
  let files: string[] = [];
  try {
    files = readdirSync(resultsDir).filter((name) => name.endsWith('.json'));
  } catch {
    return { rows: [], runs: [] };
  }
  const rows: Row[] = [];
  const runs: string[] = [];
  for (const name of files.sort()) {
    try {
      const saved = JSON.parse(readFileSync(join(resultsDir, name), 'utf8')) as { file: string; at: string; rows: Row[] };
      rows.push(...saved.rows);
      runs.push(`${saved.file} ${saved.at}`);
    } catch {
      // a file being replaced right now; the next writer includes it
    }
  }
  rows.sort((a, b) => GROUPS.indexOf(a.group) - GROUPS.indexOf(b.group) || a.file.localeCompare(b.file) || a.order - b.order);
  return { rows, runs };
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
const mb = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '–' : `${Math.round(n)}`);
const pair = (a: number | undefined, b: number | undefined): string => (a === undefined && b === undefined ? '–' : `${mb(a)} → ${mb(b)}`);

function writeMarkdown(): void {
  // Two files may finish together: write, then write again if the inputs changed meanwhile.
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows, runs } = readRows();
    const text = render(rows, runs);
    writeFileSync(`${reportFile}.tmp`, text);
    renameSync(`${reportFile}.tmp`, reportFile);
    if (JSON.stringify(readRows().runs) === JSON.stringify(runs)) return;
  }
}

function render(rows: Row[], runs: string[]): string {
  const failed = rows.filter((row) => row.result !== 'pass');
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const out: string[] = [
    '# Reliability',
    '',
    '<!-- Generated by test/reliability (npx vitest run test/reliability); do not edit by hand. -->',
    '',
    'What offload survives, measured by the reliability suite in `test/reliability/` against the compiled',
    'server (`node dist/src/main.js --workers 2 …`) running in a child process. Every call goes through a',
    'generic `@grpc/grpc-js` client as raw bytes. This file is rewritten by the suite on every run.',
    '',
    `Last run: ${new Date().toISOString()} on Node ${process.version}, ${cpus().length} × ${cpu}.`,
    `Scenarios: ${rows.length}, passed: ${rows.length - failed.length}, failed: ${failed.length}.`,
    '',
    '- **calls**: calls (or batch items) sent; **statuses**: how they ended (HUNG: no status at all);',
    '- **worst**: the slowest call, from its start to its status;',
    '- **RSS**: the server process\'s resident memory (main thread and every worker) before → after, MB;',
    '  **heap**: the main isolate\'s used heap after a full GC, before → after, MB; **peak**: highest RSS sampled meanwhile;',
    '- **fds**: open file descriptors of the server process before → after (conn.: client connections still open); **restarts**: `offload_worker_restarts_total` during the scenario.',
    '',
    'Bounds every scenario is held to (besides its own expectations): a status for every call, each hostile or faulty call',
    `within ${CALL_BUDGET_MS / 1000} s; afterwards an empty queue, no task running, every worker back (thread count), no file`,
    `descriptor left open, the main heap after GC within ${HEAP_SLACK_MB} MB of where it started and RSS within ${RSS_SLACK_MB} MB`,
    '(worker heaps and the allocator keep some memory after bursts of big messages; it plateaus), and no process warning.',
    '',
  ];
  for (const group of GROUPS) {
    const mine = rows.filter((row) => row.group === group);
    if (mine.length === 0) continue;
    out.push(`## ${group}`, '');
    out.push('| scenario | result | calls | statuses | worst | RSS MB | peak | heap MB | fds | restarts | time |');
    out.push('| --- | --- | ---: | --- | ---: | --- | ---: | --- | --- | ---: | ---: |');
    for (const row of mine) {
      const statuses = Object.entries(row.statuses).map(([name, n]) => `${name} ${n}`).join(', ') || '–';
      out.push(
        `| ${cell(row.scenario)} | ${row.result === 'pass' ? 'pass' : `**${row.result}**`} | ${row.calls} | ${cell(statuses)} | ${
          row.worstMs === undefined ? '–' : `${row.worstMs} ms`
        } | ${pair(row.before?.rssMb, row.after?.rssMb)} | ${mb(row.peakRssMb)} | ${pair(row.before?.heapMb, row.after?.heapMb)} | ${
          row.before || row.after ? `${row.before?.fds ?? '–'} → ${row.after?.fds ?? '–'}${row.after?.connections ? ` (${row.after.connections} conn.)` : ''}` : '–'
        } | ${row.restarts ?? '–'} | ${row.seconds} s |`,
      );
    }
    const notes = mine.filter((row) => row.notes.length > 0);
    if (notes.length > 0) {
      out.push('');
      for (const row of notes) out.push(`- *${cell(row.scenario)}*: ${row.notes.map(cell).join('; ')}`);
    }
    out.push('');
  }
  if (failed.length > 0) {
    out.push('## Failures', '', 'Each states the expected behaviour; the server does not meet it yet.', '');
    for (const row of failed) {
      out.push(`### ${row.group}: ${row.scenario}`, '', '```', row.failure ?? '(the test did not finish)', '```', '');
      if (row.problems.length > 0) {
        const shown = row.problems.slice(0, 12).map((problem) => `- ${cell(problem.length > 400 ? `${problem.slice(0, 400)}…` : problem)}`);
        out.push(...shown, ...(row.problems.length > 12 ? [`- … and ${row.problems.length - 12} more`] : []), '');
      }
    }
  }
  out.push('## Runs', '', ...runs.map((run) => `- ${run}`), '');
  return out.join('\n');
}
