/**
 * The benchmark harness for issue 6. Starts every server on loopback (offload,
 * the inline grpc-js peer, the plain grpc-js + piscina peer (issue 16), the
 * Python seed pattern, and the in-process piscina ceiling), checks each
 * honours the contract, runs the scenarios against each
 * in turn with one load generator, stops them, and writes
 * bench/results/latest.json, bench/results/chart.svg and BENCHMARKS.md.
 * The cache scenario (issue 14) compares offload with itself instead: two
 * more offload servers, result cache on and off, in interleaved pairs; so
 * do the fairness scenario (issue 15): one more offload server, its callers
 * naming tenants (fair queuing) or not (one FIFO line); the tracing scenario
 * (issue 17): two more, tracing on and off; and the dashboard scenario
 * (issue 18): one more, a dashboard page reading its live feed or none.
 *
 *   npx tsx bench/run.ts            full: median of 3 runs (8–15 minutes)
 *   npx tsx bench/run.ts --quick    smoke run for CI: 1 short run, about a minute, results in bench/results/quick/
 *
 * Options: --runs N, --scenarios a,b, --servers a,b, --skip-build,
 * --offload-flags="--max-queue 1000 ..." (with '=': the value starts with
 * dashes), --offload-node-flags="--max-semi-space-size=2" (node's own flags
 * for the offload server), --out DIR, --report-only (re-render BENCHMARKS.md and the chart
 * from latest.json after editing bench/notes.md), --merge (put the chosen
 * scenarios' figures into the existing latest.json, of the same mode and Node
 * major, in place of its own for them; every other scenario stays as it was
 * measured). Exit code 1 when a
 * server fails to start or to honour the contract, or a scenario cannot be
 * measured; missed targets are reported, not failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import * as cachePairs from './lib/cache-pairs.js';
import * as tracingPairs from './lib/tracing-pairs.js';
import type { CachePair } from './lib/cache-pairs.js';
import * as dashboardPairs from './lib/dashboard-pairs.js';
import * as fairnessPairs from './lib/fairness-pairs.js';
import { grpcDriverFactory } from './lib/grpc-driver.js';
import { benchDir, protoDir, repoRoot } from './lib/paths.js';
import { checkTargets, renderMarkdown, summarize } from './lib/report.js';
import type { Measurement } from './lib/report.js';
import { mergeProblem, mergeResults } from './lib/results-file.js';
import type { ResultsFile } from './lib/results-file.js';
import { FULL_PARAMS, QUICK_PARAMS, runScenario, scenarioBudgetMs, SCENARIOS } from './lib/scenarios.js';
import type { ScenarioEnv, ScenarioName, ScenarioParams, ScenarioResult } from './lib/scenarios.js';
import { watchForeignLoad } from './lib/proc.js';
import { killAllServers, OFFLOAD_HARNESS_FLAGS, OFFLOAD_HARNESS_NODE_FLAGS, SERVER_NAMES, startServer } from './lib/servers.js';
import type { ServerHandle, ServerName, ServerSetup } from './lib/servers.js';
import { sleep, withTimeout } from './lib/stats.js';
import { readVersionRuns, versionFile } from './lib/node-versions.js';
import { renderChart } from './lib/svg.js';
import { loadBundledTasks } from './lib/tasks.js';
import { verifyServer } from './lib/verify.js';

function parseOptions() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        runs: { type: 'string' },
        scenarios: { type: 'string' },
        servers: { type: 'string' },
        'skip-build': { type: 'boolean', default: false },
        'offload-flags': { type: 'string' },
        'offload-node-flags': { type: 'string' },
        out: { type: 'string' },
        'report-only': { type: 'boolean', default: false },
        merge: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)} (see --help)`);
    process.exit(2);
  }
}
const opts = parseOptions();

if (opts.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}

const startedAtMs = Date.now();
const mode: 'full' | 'quick' = opts.quick ? 'quick' : 'full';
const params = mode === 'quick' ? QUICK_PARAMS : FULL_PARAMS;
const runs = opts.runs ? Number(opts.runs) : mode === 'quick' ? 1 : 3;
const WORKERS = 2;
const cores = availableParallelism();

function pick<T extends string>(list: string | undefined, all: readonly T[], what: string): T[] {
  if (!list) return [...all];
  const chosen = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of chosen) if (!all.includes(c as T)) fail(`unknown ${what} "${c}"; choose from ${all.join(', ')}`);
  return all.filter((a) => chosen.includes(a));
}
function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer (got "${opts.runs}")`);
const scenarios = pick(opts.scenarios, SCENARIOS, 'scenario');
const servers = pick(opts.servers, SERVER_NAMES, 'server');
// The paired scenarios compare offload with itself (result cache on and off; tenants or none; tracing on and off;
// a dashboard page open or closed): nothing to run without offload.
const PAIRED: readonly ScenarioName[] = ['cache', 'fairness', 'tracing', 'dashboard'];
const cacheWanted = scenarios.includes('cache') && servers.includes('offload');
const tracingWanted = scenarios.includes('tracing') && servers.includes('offload');
const fairnessWanted = scenarios.includes('fairness') && servers.includes('offload');
const dashboardWanted = scenarios.includes('dashboard') && servers.includes('offload');
// streams first, on servers that have only answered the contract check: its RSS growth then
// measures the streams, not memory earlier scenarios (8 MiB payloads) left allocated.
const executionOrder = scenarios.filter((s) => !PAIRED.includes(s)).sort((a, b) => Number(b === 'streams') - Number(a === 'streams'));
// offload refuses work beyond --max-queue at once (default 16 × workers = 32); the peers queue without
// bound. Raise it so the 1000-stream burst is admitted, as a deployment expecting such bursts would.
// --cache-mb 0: the scenarios repeat identical requests, which the peers compute every time; so does offload here.
const offloadFlags = (opts['offload-flags'] ?? `--max-queue ${Math.max(1000, params.streams.count)} --cache-mb 0`).split(/\s+/).filter(Boolean);
const offloadNodeFlags = (opts['offload-node-flags'] ?? '').split(/\s+/).filter(Boolean);

const outDir = opts.out ?? (mode === 'quick' ? join(benchDir, 'results', 'quick') : join(benchDir, 'results'));
const markdownFile = mode === 'quick' || opts.out ? join(outDir, 'BENCHMARKS.md') : join(repoRoot, 'BENCHMARKS.md');
const latestFile = join(outDir, 'latest.json');

// scripts/with-node.sh says which registry Node it put first on PATH (npm run bench:node24).
const npmScript = `npm run ${process.env['OFFLOAD_WITH_NODE'] ? `bench:node${process.env['OFFLOAD_WITH_NODE']}` : 'bench'}`;
const command = `${npmScript}${mode === 'quick' ? ' -- --quick' : ''}`;
const readResults = (): ResultsFile => JSON.parse(readFileSync(latestFile, 'utf8')) as ResultsFile;
// Checked before anything is measured: a merge refused afterwards would throw the measurements away.
if (opts.merge && !opts['report-only']) {
  if (!existsSync(latestFile)) fail(`--merge needs ${relative(repoRoot, latestFile)} to merge into`);
  const problem = mergeProblem(readResults(), mode, process.version);
  if (problem) fail(problem);
}

const log = (message: string): void => {
  const t = ((Date.now() - startedAtMs) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${message}\n`);
};

// ---- never hang, never leave servers behind ----------------------------------------------

process.on('exit', killAllServers);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping servers`);
    killAllServers();
    process.exit(130);
  });
}
// Quick is CI's smoke run: about 40 s on a quiet 2-core machine before issue 16's plain peer, batch scenario and idle
// probe, which add 6–9 s (3 interleaved pairs on a busy machine: 44.5–49.5 s before, 53.5–55.6 s after); issue 18's
// dashboard pair adds about 2 s more. The limit leaves room for a busier one.
const hardLimitMs = mode === 'quick' ? 120_000 : 60 * 60_000;
setTimeout(() => {
  log(`gave up: the whole run exceeded ${hardLimitMs / 1000} s`);
  killAllServers();
  process.exit(1);
}, hardLimitMs).unref();

// ---- build offload (a private copy) if its sources are newer ---------------------------------

/**
 * The harness compiles offload into a build directory of its own (the same
 * `tsc -p tsconfig.build.json`, with --outDir), so a concurrent `npm run
 * build` cannot swap dist/ under a running benchmark. Next to it: the
 * package.json (ESM), the shipped non-TypeScript files (descriptor set,
 * loader shim) and a symlink to node_modules, so it runs as dist/ would.
 */
const buildDir = join(tmpdir(), `offload-bench-build-${createHash('sha1').update(repoRoot).digest('hex').slice(0, 8)}`);

function staleSources(): string[] {
  const stale: string[] = [];
  for (const dir of ['src', 'bridge', 'workers']) {
    for (const rel of readdirSync(join(repoRoot, dir), { recursive: true }) as string[]) {
      if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
      const source = join(repoRoot, dir, rel);
      const built = join(buildDir, 'dist', dir, rel.replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) stale.push(`${dir}/${rel}`);
    }
  }
  return stale;
}

function ensureBuilt(): void {
  if (opts['skip-build']) {
    log('--skip-build: using the repository\'s dist/ as it is');
    return;
  }
  mkdirSync(buildDir, { recursive: true });
  const stale = staleSources();
  if (stale.length > 0) {
    log(`building offload into ${buildDir} (${stale.length} changed source files, e.g. ${stale[0]})`);
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(buildDir, 'dist')], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
    if (result.status !== 0) {
      console.error(result.stdout, result.stderr);
      fail('building offload failed (tsc -p tsconfig.build.json)');
    }
  } else {
    log(`offload build in ${buildDir} is up to date`);
  }
  copyFileSync(join(repoRoot, 'package.json'), join(buildDir, 'package.json'));
  for (const dir of ['src', 'bridge', 'workers']) {
    for (const rel of readdirSync(join(repoRoot, dir), { recursive: true }) as string[]) {
      const source = join(repoRoot, dir, rel);
      if (/\.(ts|mts|cts)$/.test(rel) || !statSync(source).isFile()) continue;
      mkdirSync(join(buildDir, dir, rel, '..'), { recursive: true });
      copyFileSync(source, join(buildDir, dir, rel));
    }
  }
  const modules = join(buildDir, 'node_modules');
  if (!existsSync(modules)) symlinkSync(join(repoRoot, 'node_modules'), modules, 'dir');
  process.env['OFFLOAD_BENCH_BUILD'] = buildDir; // read by paths.ts here and in every child
}

// ---- setup shared by every run ------------------------------------------------------------

function tryRun(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
}

async function prepare(workDir: string): Promise<ServerSetup> {
  const pythonGenDir = join(workDir, 'py');
  mkdirSync(pythonGenDir);
  if (servers.includes('python-seed')) {
    const generated = tryRun('protoc', ['-I', protoDir, '-I', '/usr/include', `--python_out=${pythonGenDir}`, join(protoDir, 'offload', 'v1', 'compute.proto')]);
    if (generated === undefined) log('protoc failed: the python-seed peer will not start (apt-get install protobuf-compiler libprotobuf-dev)');
  }
  const tasks = await loadBundledTasks();
  const catalogFile = join(workDir, 'tasks.json');
  writeFileSync(catalogFile, JSON.stringify([...tasks.values()].map((t) => ({ name: t.name, description: t.description, input: t.input }))));
  return { workDir, pythonGenDir, catalogFile, workers: WORKERS, offloadFlags, offloadNodeFlags, startTimeoutMs: mode === 'quick' ? 15_000 : 30_000 };
}

function machineInfo(): Record<string, string | number> {
  const python = tryRun('/usr/bin/python3', ['-c', 'import sys, grpc; print(sys.version.split()[0], grpc.__version__)'])?.split(' ');
  return {
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    'memory (GB)': Math.round(totalmem() / 1e9),
    node: process.version,
    python: python?.[0] ?? 'n/a',
    grpcio: python?.[1] ?? 'n/a',
    kernel: release(),
    'load average at start': loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

/** `harnessFlags`: what the run recorded the harness adding (absent in older files: none). */
const serverNotes = (flags: readonly string[], nodeFlags: readonly string[], harnessFlags: readonly string[]): Record<ServerName, string> => ({
  offload: `\`node ${nodeFlags.map((f) => `${f} `).join('')}dist/src/main.js --port 0 --workers ${WORKERS} ${[...harnessFlags, ...flags].join(' ')}\`: the compiled server with its defaults otherwise (input validation, info-level call logs written to a file, metrics collected${harnessFlags.includes('--metrics-port') ? ' as always; `--metrics-port 0` serves them on a free port, scraped only during `streams` for the main-thread heap, an idle listener otherwise' : ' but not served'}).${nodeFlags.some((f) => f.startsWith('--inspect-port')) ? ' `--inspect-port` opens nothing by itself: `streams` opens the inspector (SIGUSR1) to ask for full garbage collections before reading the heap.' : ''} The default \`--max-queue\` (32) would refuse most of the 1000-stream burst at once; the peers queue without bound. \`--cache-mb 0\`: the scenarios repeat identical requests (one 8 MiB payload hashed again and again), which the peers compute every time, so offload must not answer them from its result cache.`,
  inline: '`bench/peers/inline`: a plain grpc-js server computing every task on its main thread (what a newcomer writes); RunBatch runs items one after another.',
  plain: '`bench/peers/plain`: a plain grpc-js server handing every task to a piscina pool of 2 threads (the ceiling’s worker), with no validation, logs or metrics; progress over a MessagePort per run; RunBatch runs items concurrently, at most 64 in flight.',
  'python-seed': '`bench/peers/python-seed`: grpc.aio, a `ProcessPoolExecutor(2)` (spawn) awaited with `asyncio.wrap_future`, progress sent by the worker processes over a multiprocessing queue pumped into the loop by one thread.',
  ceiling: '`bench/peers/ceiling`: a bare piscina pool of 2 threads in the measuring process, no gRPC: the most the pool side can do on this machine.',
});

// ---- measuring -----------------------------------------------------------------------------

const KEY_FIGURES: Record<ScenarioName, [string, string][]> = {
  overhead: [['rps', 'req/s'], ['p99Ms', 'ms p99'], ['cpuUsPerCall', 'µs CPU/call'], ['mainThreadUsPerCall', 'µs main thread/call']],
  batch: [['itemsPerSec', 'items/s'], ['cpuUsPerItem', 'µs CPU/item'], ['mainThreadUsPerItem', 'µs main thread/item'], ['wallMs', 'ms']],
  compute: [['tasksPerSec', 'tasks/s'], ['efficiency', 'efficiency']],
  loopfree: [['idleP99Ms', 'ms p99 idle'], ['p99Ms', 'ms p99 loaded'], ['p99OverIdle', '× idle'], ['maxMs', 'ms max'], ['efficiency', 'efficiency']],
  stream: [['eventsMin', 'events/stream'], ['ttfpMinMs', 'ms to 1st progress'], ['largestGapMs', 'ms gap']],
  payload: [['mbPerSec', 'MB/s'], ['cpuUsPerMB', 'µs CPU/MB']],
  streams: [['completed', 'completed'], ['wallOverIdeal', '× ideal'], ['rssGrowthMB', 'MB RSS growth'], ['heapKeptKBPerOpenStream', 'KB heap kept/open stream']],
  cache: [['rps', 'req/s'], ['cpuUsPerCall', 'µs CPU/req'], ['cachedFraction', 'cached']],
  fairness: [['p50Ms', 'ms light p50'], ['p99Ms', 'ms light p99'], ['calls', 'light calls'], ['floodRps', 'flood/s']],
  tracing: [['rps', 'req/s'], ['cpuUsPerCall', 'µs CPU/call'], ['mainThreadUsPerCall', 'µs main thread/call'], ['p99Ms', 'ms p99']],
  dashboard: [['streamsOpenAtStart', 'streams open'], ['p50Ms', 'ms p50'], ['p99Ms', 'ms p99'], ['maxMs', 'ms max'], ['mainThreadCores', 'main-thread cores'], ['feedEventsPerSec', 'events/s'], ['feedKBPerEvent', 'KB/event']],
};

/** The figure that must be positive for a measurement to count: zero means the scenario did nothing. */
const LIVENESS: Record<ScenarioName, string> = {
  overhead: 'calls', batch: 'results', compute: 'tasks', loopfree: 'probes', stream: 'completed', payload: 'calls', streams: 'completed', cache: 'calls', fairness: 'calls', tracing: 'calls',
  dashboard: 'probes',
};

function describe(result: ScenarioResult, scenario: ScenarioName): string {
  const figures = KEY_FIGURES[scenario].flatMap(([k, label]) => {
    const v = result.metrics[k];
    if (v === undefined && (k.startsWith('heap') || k.startsWith('feed'))) return []; // only offload publishes its heap; only an open page has a feed
    return [`${v === undefined ? 'n/a' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)} ${label}`];
  });
  if (result.errors) figures.push(`${result.errors} errors (${result.firstError ?? ''})`);
  const foreign = result.metrics['foreignCores'];
  if (foreign !== undefined && foreign >= 0.1) figures.push(`[other processes: ${foreign.toFixed(2)} cores]`);
  return figures.join(', ');
}

/**
 * `side`: what a paired configuration changes: the fairness scenario's tenants (none: fifo), the dashboard
 * scenario's page. `p`: the parameters, when not the mode's (a warm-up round).
 */
async function measure(server: ServerHandle, scenario: ScenarioName, side: Side = {}, p: ScenarioParams = params): Promise<ScenarioResult> {
  if (!server.alive()) throw new Error(`${server.name} is no longer running (its log is kept in ${relative(repoRoot, join(outDir, 'logs'))})`);
  const budget = scenarioBudgetMs(scenario, p);
  const foreign = watchForeignLoad(server.pid);
  const result = server.runScenario
    ? await server.runScenario(scenario, p, cores, WORKERS, budget)
    : await withTimeout(
        runScenario(scenario, p, { drivers: grpcDriverFactory(server.address!), pid: server.pid, cores, workers: WORKERS, measureLoadgen: true, ...side, metricsUrl: server.metricsUrl, collectGarbage: server.collectGarbage }),
        budget,
        `${server.name} ${scenario}`,
      );
  result.metrics['foreignCores'] = foreign.stop();
  return result;
}

/** Other processes share this machine. In full mode, wait (up to QUIET_WAIT_MS) until they use less than QUIET_CORES. */
const QUIET_CORES = 0.3;
const QUIET_WAIT_MS = 10_000;
async function waitForQuiet(pid: number): Promise<void> {
  if (mode === 'quick') return;
  const started = Date.now();
  let load = 0;
  do {
    const foreign = watchForeignLoad(pid);
    await sleep(700);
    load = foreign.stop();
    if (load < QUIET_CORES) {
      if (Date.now() - started > 1000) log(`other processes calmed down to ${load.toFixed(2)} cores after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return;
    }
  } while (Date.now() - started < QUIET_WAIT_MS);
  log(`other processes still use ${load.toFixed(2)} cores after ${QUIET_WAIT_MS / 1000} s; measuring anyway (the figure is recorded as foreignCores)`);
}

/** What a configuration of a paired scenario sets in the scenario's environment besides the server. */
type Side = Pick<ScenarioEnv, 'tenants' | 'dashboardPage'>;

/** A scenario that compares offload with itself: what each configuration is measured on, and how a pair becomes one measurement. */
interface PairPlan<C extends string> {
  scenario: ScenarioName;
  orders: C[][];
  /** The server a configuration is measured on, the tenants its callers name, whether a dashboard page listens. */
  side(config: C): { server: ServerHandle } & Side;
  combine(results: Record<C, ScenarioResult>, first: C): ScenarioResult;
  /** The pair's ratios, for the log. */
  describe(combined: ScenarioResult): string;
  /** What makes a side's figures worthless besides completing nothing (a wrong digest). */
  problems(result: ScenarioResult): string[];
  /** A round before the first pair, not measured, on servers just started; it throws when it fails. */
  warmUp?(): Promise<string>;
}

/**
 * Both configurations measured back to back, in each pair's order; each
 * pair is one measurement. A pair that cannot be measured, or whose figures
 * are worthless, ends this run's pairs and fails the harness.
 */
async function measurePairs<C extends string>(run: number, plan: PairPlan<C>, measurements: Measurement[], failures: string[]): Promise<void> {
  const { scenario } = plan;
  const label = (config: C): string => `offload/${config}`.padEnd(11);
  if (plan.warmUp) {
    try {
      log(`run ${run + 1} ${scenario.padEnd(8)} warm-up, not measured: ${await plan.warmUp()}`);
    } catch (error) {
      const message = `${scenario} warm-up: ${error instanceof Error ? error.message : String(error)}`;
      measurements.push({ run: run + 1, server: 'offload', scenario, metrics: {}, errors: 0, failed: message });
      failures.push(`run ${run + 1}: offload ${message}`);
      log(`run ${run + 1} ${scenario.padEnd(8)} FAILED: ${message}`);
      return;
    }
  }
  for (const [index, order] of plan.orders.entries()) {
    const results: Partial<Record<C, ScenarioResult>> = {};
    for (const config of order) {
      const { server, ...side } = plan.side(config);
      await sleep(mode === 'quick' ? 50 : 300);
      await waitForQuiet(server.pid);
      try {
        results[config] = await measure(server, scenario, side);
        log(`run ${run + 1} ${scenario.padEnd(8)} ${label(config)} ${describe(results[config], scenario)}`);
      } catch (error) {
        const message = `${scenario} ${config}: ${error instanceof Error ? error.message : String(error)}`;
        measurements.push({ run: run + 1, server: 'offload', scenario, metrics: {}, errors: 0, failed: message });
        failures.push(`run ${run + 1}: offload ${message}`);
        log(`run ${run + 1} ${scenario.padEnd(8)} ${label(config)} FAILED: ${message}`);
        return;
      }
    }
    const complete = results as Record<C, ScenarioResult>;
    const combined = plan.combine(complete, order[0]!);
    measurements.push({ run: run + 1, server: 'offload', scenario, ...combined });
    log(`run ${run + 1} ${scenario.padEnd(8)} pair ${index + 1} (${order.join(' then ')}): ${plan.describe(combined)}`);
    const problems = order.flatMap((config) => {
      const result = complete[config];
      return [
        ...(!((result.metrics[LIVENESS[scenario]] ?? 0) > 0) ? [`nothing completed (${result.firstError ?? 'no error reported'})`] : []),
        ...plan.problems(result),
      ].map((problem) => `run ${run + 1}: offload ${scenario} ${config}: ${problem}`);
    });
    if (problems.length) {
      failures.push(...problems);
      return;
    }
  }
}

const ratioOf = (combined: ScenarioResult, key: string): string => combined.metrics[key]?.toFixed(2) ?? 'n/a';

/**
 * The cache scenario (issue 14): offload with its result cache on, then off
 * (or off, then on), on their own two servers. A wrong digest fails the
 * harness, as the contract check would: figures from a cache that answers
 * wrongly mean nothing.
 */
const cachePlan = (run: number, pair: CachePair): PairPlan<cachePairs.CacheConfig> => ({
  scenario: 'cache',
  orders: cachePairs.pairOrders(run, params.cache.pairs),
  side: (config) => ({ server: pair[config] }),
  combine: ({ on, off }, first) => cachePairs.combinePair(on, off, first === 'on'),
  describe: (combined) => `on ÷ off ${ratioOf(combined, 'rpsRatio')}× req/s, ${ratioOf(combined, 'cpuUsPerCallRatio')}× CPU/req`,
  problems: ({ metrics, firstError }) => ((metrics['wrong'] ?? 0) > 0 ? [`${metrics['wrong']} wrong digests (${firstError ?? ''})`] : []),
});

/**
 * The fairness scenario (issue 15): the callers on offload's own server as
 * two tenants (fair), then as none (fifo), or the other way round. A flood
 * that completed nothing means the light caller waited behind no queue.
 */
const fairnessPlan = (run: number, server: ServerHandle): PairPlan<fairnessPairs.FairnessConfig> => ({
  scenario: 'fairness',
  orders: fairnessPairs.pairOrders(run, params.fairness.pairs),
  side: (config) => ({ server, tenants: fairnessPairs.FAIRNESS_TENANTS[config] }),
  combine: ({ fair, fifo }, first) => fairnessPairs.combinePair(fair, fifo, first === 'fair'),
  describe: (combined) => `fifo ÷ fair ${ratioOf(combined, 'p50MsRatio')}× light p50, ${ratioOf(combined, 'p99MsRatio')}× light p99, ${ratioOf(combined, 'totalRpsRatio')}× completions/s`,
  problems: ({ metrics, firstError }) => (!((metrics['floodCalls'] ?? 0) > 0) ? [`the flood completed nothing (${firstError ?? 'no error reported'})`] : []),
});

/**
 * The tracing scenario (issue 17): offload tracing every call, then not (or
 * the other way round), on their own two servers. A traced side whose spans
 * never reached the receiver measured nothing of tracing.
 */
const tracingPlan = (run: number, pair: tracingPairs.TracingPair): PairPlan<tracingPairs.TracingConfig> => {
  let seen = { requests: pair.receiver.requests, bytes: pair.receiver.bytes };
  return {
    scenario: 'tracing',
    orders: tracingPairs.pairOrders(run, params.tracing.pairs),
    side: (config) => ({ server: pair[config] }),
    combine: ({ on, off }, first) => {
      const now = { requests: pair.receiver.requests, bytes: pair.receiver.bytes };
      const received = { requests: now.requests - seen.requests, bytes: now.bytes - seen.bytes };
      seen = now;
      return tracingPairs.combinePair(on, off, first === 'on', received);
    },
    describe: (combined) => `on ÷ off ${ratioOf(combined, 'cpuUsPerCallRatio')}× CPU/call (+${combined.metrics['cpuUsPerCallAdded']?.toFixed(0) ?? 'n/a'} µs), ${ratioOf(combined, 'rpsRatio')}× req/s, ${combined.metrics['otlpBytesPerCall']?.toFixed(0) ?? 'n/a'} OTLP bytes/call`,
    problems: () => (pair.receiver.requests === 0 ? ['the traced server sent no spans to the receiver'] : []),
  };
};

/**
 * The dashboard scenario (issue 18): 1000 streams open on offload's own
 * server and the probe, a dashboard page reading the live feed (open), then
 * none (closed), or the other way round. Streams that failed or never
 * opened, a page that got nothing, or runs the server kept after the
 * streams were cancelled make the pair worthless.
 */
const dashboardPlan = (run: number, server: ServerHandle): PairPlan<dashboardPairs.DashboardConfig> => ({
  scenario: 'dashboard',
  orders: dashboardPairs.pairOrders(run, params.dashboard.pairs),
  side: (config) => ({ server, dashboardPage: dashboardPairs.DASHBOARD_PAGE[config] }),
  combine: ({ open, closed }, first) => dashboardPairs.combinePair(open, closed, first === 'open'),
  describe: (combined) =>
    `open ÷ closed ${ratioOf(combined, 'p50MsRatio')}× probe p50, ${ratioOf(combined, 'p99MsRatio')}× probe p99, ${ratioOf(combined, 'mainThreadCoresRatio')}× main-thread CPU; ` +
    `the page got ${combined.metrics['feedEventsPerSecOpen']?.toFixed(2) ?? 'n/a'} events/s of ${combined.metrics['feedKBPerEventOpen']?.toFixed(1) ?? 'n/a'} KB`,
  problems: dashboardPairs.sideProblems,
  // A fresh server's first 1000 streams ran slower in whichever configuration came first: one round with the page
  // open (so the snapshot's code is compiled too) before the pairs.
  ...(params.dashboard.serverWarmupMs > 0
    ? {
        warmUp: async () => {
          const round = { ...params, dashboard: { ...params.dashboard, durationMs: params.dashboard.serverWarmupMs } };
          const result = await measure(server, 'dashboard', { dashboardPage: true }, round);
          const problems = [...(result.metrics['probes'] ? [] : ['no probe answered']), ...dashboardPairs.sideProblems(result)];
          if (problems.length) throw new Error(problems.join('; '));
          return describe(result, 'dashboard');
        },
      }
    : {}),
});

async function main(): Promise<number> {
  log(`mode ${mode}: ${runs} run(s), scenarios ${scenarios.join(', ')}, servers ${servers.join(', ')}, ${cores} cores`);
  for (const scenario of PAIRED) {
    if (scenarios.includes(scenario) && !servers.includes('offload')) log(`${scenario}: skipped, it measures offload alone and --servers leaves offload out`);
  }
  ensureBuilt();
  const workDir = mkdtempSync(join(tmpdir(), 'offload-bench-'));
  const keepLogs = join(outDir, 'logs');
  const setup = await prepare(workDir);
  const machine = machineInfo();
  const measurements: Measurement[] = [];
  const failures: string[] = [];

  try {
    for (let run = 0; run < runs; run++) {
      log(`run ${run + 1}/${runs}: starting servers`);
      // The paired scenarios' offload servers start alongside the others, so a quick run waits for no second start.
      const cacheStart = cacheWanted ? cachePairs.startCachePair(setup, run, 15_000) : undefined;
      const fairnessStart = fairnessWanted ? fairnessPairs.startFairnessServer(setup, params.fairness, run, 15_000) : undefined;
      const tracingStart = tracingWanted ? tracingPairs.startTracingPair(setup, run, 15_000) : undefined;
      const dashboardStart = dashboardWanted ? dashboardPairs.startDashboardServer(setup, params.dashboard, run, 15_000) : undefined;
      // Only the scenarios that compare offload with itself: the servers compared would wait unused.
      const compared = executionOrder.length > 0 ? servers : [];
      const started = await Promise.allSettled(compared.map((name) => startServer(name, setup, run)));
      const handles: ServerHandle[] = [];
      // The tracing scenario's OTLP receiver, closed with the servers.
      let receiver: tracingPairs.OtlpReceiver | undefined;
      started.forEach((s, i) => {
        if (s.status === 'fulfilled') handles.push(s.value);
        else failures.push(`run ${run + 1}: ${compared[i]}: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`);
      });
      try {
        const usable: ServerHandle[] = [];
        for (const h of handles) {
          if (!h.address) {
            usable.push(h);
            continue;
          }
          try {
            await verifyServer(h.name, h.address, 15_000);
            usable.push(h);
          } catch (error) {
            failures.push(`run ${run + 1}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        const cacheStarted = await cacheStart;
        if (cacheStarted && 'error' in cacheStarted) failures.push(`run ${run + 1}: ${cacheStarted.error}`);
        const cachePair = cacheStarted && 'pair' in cacheStarted ? cacheStarted.pair : undefined;
        if (cachePair) handles.push(cachePair.on, cachePair.off);
        const fairnessStarted = await fairnessStart;
        if (fairnessStarted && 'error' in fairnessStarted) failures.push(`run ${run + 1}: ${fairnessStarted.error}`);
        const fairnessServer = fairnessStarted && 'server' in fairnessStarted ? fairnessStarted.server : undefined;
        if (fairnessServer) handles.push(fairnessServer);
        const tracingStarted = await tracingStart;
        if (tracingStarted && 'error' in tracingStarted) failures.push(`run ${run + 1}: ${tracingStarted.error}`);
        const tracingPair = tracingStarted && 'pair' in tracingStarted ? tracingStarted.pair : undefined;
        if (tracingPair) handles.push(tracingPair.on, tracingPair.off);
        receiver = tracingPair?.receiver;
        const dashboardStarted = await dashboardStart;
        if (dashboardStarted && 'error' in dashboardStarted) failures.push(`run ${run + 1}: ${dashboardStarted.error}`);
        const dashboardServer = dashboardStarted && 'server' in dashboardStarted ? dashboardStarted.server : undefined;
        if (dashboardServer) handles.push(dashboardServer);
        const ready = [
          ...usable.map((h) => `${h.name} (pid ${h.pid}${h.address ? ` at ${h.address}` : ''})`),
          ...(cachePair ? [`offload with cache on (pid ${cachePair.on.pid}) and off (pid ${cachePair.off.pid})`] : []),
          ...(fairnessServer ? [`offload for fairness (pid ${fairnessServer.pid})`] : []),
          ...(tracingPair ? [`offload with tracing on (pid ${tracingPair.on.pid}) and off (pid ${tracingPair.off.pid})`] : []),
          ...(dashboardServer ? [`offload for dashboard (pid ${dashboardServer.pid})`] : []),
        ];
        log(`run ${run + 1}/${runs}: ${ready.join(', ')} ready`);
        const broken = new Set<ServerName>();
        for (const scenario of executionOrder) {
          // Rotate the order every run so no server always goes first.
          const order = usable.map((_, i) => usable[(i + run) % usable.length]!);
          for (const server of order) {
            const fail = (message: string): void => {
              measurements.push({ run: run + 1, server: server.name, scenario, metrics: {}, errors: 0, failed: message });
              failures.push(`run ${run + 1}: ${server.name} ${scenario}: ${message}`);
              log(`run ${run + 1} ${scenario.padEnd(8)} ${server.name.padEnd(11)} FAILED: ${message}`);
            };
            // A server that completed nothing is not asked again this run: every further
            // scenario would only wait for its deadlines.
            if (broken.has(server.name)) {
              fail('skipped: it completed nothing earlier in this run');
              continue;
            }
            await sleep(mode === 'quick' ? 50 : 300);
            await waitForQuiet(server.pid);
            try {
              const result = await measure(server, scenario);
              measurements.push({ run: run + 1, server: server.name, scenario, ...result });
              log(`run ${run + 1} ${scenario.padEnd(8)} ${server.name.padEnd(11)} ${describe(result, scenario)}`);
              if (!((result.metrics[LIVENESS[scenario]] ?? 0) > 0)) {
                failures.push(`run ${run + 1}: ${server.name} ${scenario}: nothing completed (${result.firstError ?? 'no error reported'})`);
                broken.add(server.name);
              }
            } catch (error) {
              fail(error instanceof Error ? error.message : String(error));
              broken.add(server.name);
            }
          }
        }
        // The paired scenarios last, against their own servers.
        if (cachePair) await measurePairs(run, cachePlan(run, cachePair), measurements, failures);
        if (fairnessServer) await measurePairs(run, fairnessPlan(run, fairnessServer), measurements, failures);
        if (tracingPair) await measurePairs(run, tracingPlan(run, tracingPair), measurements, failures);
        if (dashboardServer) await measurePairs(run, dashboardPlan(run, dashboardServer), measurements, failures);
      } finally {
        await Promise.all(handles.map((h) => h.stop()));
        await receiver?.close();
      }
    }
  } finally {
    killAllServers();
    // Keep the servers' logs next to the results when something failed; otherwise drop them.
    if (failures.length) {
      mkdirSync(keepLogs, { recursive: true });
      for (const f of readdirSync(workDir)) if (f.endsWith('.log')) writeFileSync(join(keepLogs, f), readFileSync(join(workDir, f)));
      log(`server logs kept in ${relative(repoRoot, keepLogs)}`);
    }
    rmSync(workDir, { recursive: true, force: true });
  }

  machine['load average at end'] = loadavg().map((l) => l.toFixed(2)).join(' ');
  const results: ResultsFile = {
    mode,
    runs,
    startedAt: new Date(startedAtMs).toISOString().replace(/\.\d+Z$/, 'Z'),
    durationS: (Date.now() - startedAtMs) / 1000,
    command,
    machine,
    params,
    offloadFlags,
    offloadNodeFlags,
    offloadHarnessFlags: [...OFFLOAD_HARNESS_FLAGS],
    offloadHarnessNodeFlags: [...OFFLOAD_HARNESS_NODE_FLAGS],
    servers,
    scenarios,
    failures,
    measurements,
  };
  if (opts.merge) {
    const commandLine = `${npmScript} -- ${process.argv.slice(2).map((arg) => (/\s/.test(arg) ? `'${arg}'` : arg)).join(' ')}`;
    log(`merging ${scenarios.join(', ')} into ${relative(repoRoot, latestFile)}`);
    writeOutputs(mergeResults(readResults(), results, commandLine));
  } else {
    writeOutputs(results);
  }
  for (const f of failures) log(`failure: ${f.split('\n')[0]}`);
  return failures.length ? 1 : 0;
}

/** latest.json (with the summary and target checks), the chart and the markdown, all from the measurements. */
function writeOutputs(results: ResultsFile): void {
  const summary = summarize(results.measurements);
  // Results written before the batch scenario existed have no batch parameters.
  const targets = checkTargets(
    summary,
    results.params.streams.count,
    (results.params as Partial<typeof results.params>).batch?.items,
    (results.params as Partial<typeof results.params>).dashboard?.count,
  );
  mkdirSync(outDir, { recursive: true });
  // A full run is also kept per Node major, for BENCHMARKS.md's comparison of versions.
  if (results.mode === 'full' && !opts.out) {
    writeFileSync(versionFile(outDir, String(results.machine['node'])), JSON.stringify({ ...results, targets, summary }, null, 2) + '\n');
  }
  const chartFile = join(outDir, 'chart.svg');
  const caption = `offload benchmarks: ${results.mode} mode, ${results.runs} run${results.runs > 1 ? 's' : ''}, ${results.machine['cores']} cores, ${results.startedAt.slice(0, 10)}`;
  writeFileSync(chartFile, renderChart(summary, results.servers, caption));
  const notesFile = join(benchDir, 'notes.md');
  writeFileSync(
    markdownFile,
    renderMarkdown({
      ...results,
      serverNotes: serverNotes(results.offloadFlags, [...(results.offloadHarnessNodeFlags ?? []), ...(results.offloadNodeFlags ?? [])], results.offloadHarnessFlags ?? []),
      summary,
      targets,
      chartPath: relative(join(markdownFile, '..'), chartFile).split('\\').join('/'),
      notes: results.mode === 'full' && existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : undefined,
      nodeVersions: results.mode === 'full' && !opts.out ? readVersionRuns(outDir) : [],
      // The run's own command: re-rendering elsewhere (--report-only, --merge) must not rename it.
      // Files from before it was recorded: this process's, the best guess left.
      command: results.command ?? command,
    }),
  );
  writeFileSync(latestFile, JSON.stringify({ ...results, targets, summary }, null, 2) + '\n');
  log(`wrote ${relative(repoRoot, markdownFile)}, ${relative(repoRoot, latestFile)}, ${relative(repoRoot, chartFile)}`);
  for (const t of targets) log(`target ${t.met === null ? '?' : t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured} (${t.margin})`);
}

/** --report-only: renders the markdown and the chart again from latest.json, without measuring. */
function reportOnly(): number {
  if (!existsSync(latestFile)) fail(`--report-only needs ${relative(repoRoot, latestFile)}; run the benchmark first`);
  writeOutputs(readResults());
  return 0;
}

(opts['report-only'] ? Promise.resolve(reportOnly()) : main()).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    killAllServers();
    process.exit(1);
  },
);
