/**
 * The server's configuration: command-line flags, each with an OFFLOAD_*
 * environment variable behind it (a flag wins), validated once and frozen.
 * Files named by flags (TLS material, tokens) are read here too, so a bad
 * path stops the start instead of the first call.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { FlagError, parseFlags, type FlagValues } from './parse-flags.js';
import { ConfigError, loadTls, loadTokens, type AuthToken, type TlsConfig } from './config-files.js';
import { defaultWorkerHeapMb, readMemoryLimit } from './memory-limit.js';
import { DASHBOARD_PORT, FLAGS, LOG_LEVELS, type FlagName, type LogLevel } from './config-flags.js';

export { FLAGS, LOG_LEVELS, USAGE, type LogLevel } from './config-flags.js';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  readonly maxQueue: number;
  /** Tasks one tenant may have waiting for a worker, as maxQueue is for all. */
  readonly maxQueuePerTenant: number;
  readonly taskDirs: readonly string[];
  readonly cancelGraceMs: number;
  readonly maxMessageBytes: number;
  readonly logLevel: LogLevel;
  readonly shutdownGraceMs: number;
  readonly heartbeatMs: number;
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
  /** 0: connections live as long as clients keep them. */
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  /** undefined: no metrics endpoint (and no dashboard). */
  readonly metricsPort: number | undefined;
  /** Whether the metrics port serves the dashboard at / too. */
  readonly dashboard: boolean;
  /** 0: no server-wide limit. */
  readonly maxRunMs: number;
  /** 0: a task may wait in the queue as long as it takes. */
  readonly maxQueueMs: number;
  /** How long a finished job submitted with Submit stays readable. */
  readonly jobRetentionMs: number;
  /** Finished jobs kept at most; the oldest go first. */
  readonly maxJobs: number;
  /** MB of finished jobs' results kept at most; the oldest go first. */
  readonly jobStoreMb: number;
  /** MB of cached results of cacheable tasks; 0 turns caching and sharing identical runs off. */
  readonly cacheMb: number;
  /** How long a cached result may be answered again. */
  readonly cacheTtlMs: number;
  /** A low-priority run that waited this long is treated as normal. */
  readonly priorityAgingMs: number;
  /** 0: V8's default heap limit. Without the flag, derived from the container's memory limit. */
  readonly workerMaxMemoryMb: number;
  /** The container's (cgroup's) memory limit in MB, when there is one. */
  readonly memoryLimitMb: number | undefined;
  /** How much lower the workers' CPU priority is than the event loop's (Linux nice, 0 to 19). */
  readonly workerNice: number;
  /** Worker crashes in a row that suspend a task; 0: never suspend. */
  readonly crashLimit: number;
  readonly crashCooldownMs: number;
  readonly tls: TlsConfig | undefined;
  /** Accepted bearer tokens, each with its tenant; empty: no authentication. Never log the tokens. */
  readonly auth: readonly AuthToken[];
  /** The tenants the token file names, with their weights (the share fair queuing gives them); empty without one. */
  readonly tenantWeights: ReadonlyMap<string, number>;
  /** OpenTelemetry tracing: the SDK is started, configured by the standard OTEL_* variables. */
  readonly tracing: boolean;
}

export { ConfigError };
export type { AuthToken, TlsConfig };

/** What loadConfig reads from the machine, for tests to replace. */
export interface SystemFacts {
  /** The container's memory limit in bytes, if any. */
  memoryLimitBytes: number | undefined;
}

/** Parses and validates flags and environment; throws ConfigError with an exact message. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, system: SystemFacts = { memoryLimitBytes: readMemoryLimit() }): Config {
  let values: FlagValues;
  try {
    ({ values } = parseFlags(argv, {
      ...Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, { type: 'switch' in flag ? ('boolean' as const) : ('string' as const) }])),
      tasks: { type: 'string', multiple: true },
    }));
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    if (error.problem === 'unknown-flag') throw new ConfigError(`unknown flag ${error.flag}; see offload serve --help`);
    if (error.problem === 'unexpected-argument') throw new ConfigError(`${error.message}; offload serve takes only flags (see offload serve --help)`);
    throw new ConfigError(error.message);
  }

  const raw = (name: FlagName): { value: string; source: string } | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return { value: flag, source: `--${name}` };
    if (flag === true) return { value: 'true', source: `--${name}` };
    const fromEnv = env[FLAGS[name].env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: FLAGS[name].env };
    return undefined;
  };
  const integer = (name: FlagName, fallback: number, min: 0 | 1, max: number): number => {
    const given = raw(name);
    if (!given) return fallback;
    const text = given.value.trim();
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    const kind = min === 1 ? 'a positive integer' : 'a non-negative integer';
    if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${given.source} must be ${kind} (got "${given.value}")`);
    if (n > max) throw new ConfigError(`${given.source} must be at most ${max} (got "${given.value}")`);
    return n;
  };
  const toggle = (name: FlagName): boolean => {
    const given = raw(name);
    if (!given) return false;
    const text = given.value.trim().toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new ConfigError(`${given.source} must be true or false (got "${given.value}")`);
  };
  const file = (name: FlagName): Buffer | undefined => {
    const given = raw(name);
    if (!given) return undefined;
    try {
      return readFileSync(given.value);
    } catch (error) {
      throw new ConfigError(`${given.source}: cannot read ${given.value} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };

  const HOUR = 3_600_000;
  const host = raw('host')?.value ?? '127.0.0.1';
  if (host.trim() === '') throw new ConfigError(`${raw('host')?.source ?? '--host'} must not be empty`);
  const port = integer('port', 50051, 0, 65535);
  const workers = integer('workers', availableParallelism(), 1, 1024);
  const logLevel = raw('log-level')?.value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`${raw('log-level')!.source} must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const flagDirs = values['tasks'] as string[] | undefined;
  const envDirs = env[FLAGS.tasks.env]?.split(',').map((d) => d.trim()).filter(Boolean);
  const taskDirs = flagDirs ?? envDirs ?? [];
  if (taskDirs.some((d) => d.trim() === '')) throw new ConfigError('--tasks must name a directory');

  // The dashboard comes with the metrics port, and --dashboard alone opens that port where it has its own default.
  const dashboardAsked = raw('dashboard') ? toggle('dashboard') : undefined;
  const metricsPort = raw('metrics-port') ? integer('metrics-port', 0, 0, 65535) : dashboardAsked ? DASHBOARD_PORT : undefined;
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError('--metrics-port must differ from --port');
  }

  const maxQueue = integer('max-queue', 16 * workers, 0, 1_000_000);
  const tracing = tracingWanted(raw('otel') ? toggle('otel') : undefined, raw('otel')?.source, env);
  return Object.freeze({
    host,
    port,
    workers,
    maxQueue,
    maxQueuePerTenant: integer('max-queue-per-tenant', maxQueue, 0, 1_000_000),
    taskDirs: Object.freeze([...taskDirs]),
    cancelGraceMs: integer('cancel-grace-ms', 500, 0, HOUR),
    maxMessageBytes: integer('max-message-bytes', 64 * 1024 * 1024, 1, 2 ** 31 - 1),
    logLevel: logLevel as LogLevel,
    shutdownGraceMs: integer('shutdown-grace-ms', 30_000, 0, HOUR),
    heartbeatMs: integer('heartbeat-ms', 15_000, 1, HOUR),
    keepaliveMs: integer('keepalive-ms', 30_000, 1, 24 * HOUR),
    keepaliveTimeoutMs: integer('keepalive-timeout-ms', 10_000, 1, HOUR),
    maxConnectionAgeMs: integer('max-connection-age-ms', 0, 0, 24 * 30 * HOUR),
    maxConnectionAgeGraceMs: integer('max-connection-age-grace-ms', 30_000, 0, 24 * HOUR),
    metricsPort,
    dashboard: metricsPort !== undefined && dashboardAsked !== false,
    maxRunMs: integer('max-run-ms', 600_000, 0, 24 * HOUR),
    maxQueueMs: integer('max-queue-ms', 30_000, 0, 24 * HOUR),
    jobRetentionMs: integer('job-retention-ms', 600_000, 0, 30 * 24 * HOUR),
    maxJobs: integer('max-jobs', 10_000, 0, 10_000_000),
    jobStoreMb: integer('job-store-mb', 256, 0, 1024 * 1024),
    cacheMb: integer('cache-mb', 64, 0, 1024 * 1024),
    cacheTtlMs: integer('cache-ttl-ms', 3_600_000, 0, 30 * 24 * HOUR),
    priorityAgingMs: integer('priority-aging-ms', 30_000, 0, 24 * HOUR),
    workerMaxMemoryMb: integer('worker-max-memory-mb', defaultWorkerHeapMb(system.memoryLimitBytes, workers), 0, 1024 * 1024),
    memoryLimitMb: system.memoryLimitBytes === undefined ? undefined : Math.floor(system.memoryLimitBytes / 2 ** 20),
    workerNice: integer('worker-nice', 10, 0, 19),
    crashLimit: integer('crash-limit', 5, 0, 1_000_000),
    crashCooldownMs: integer('crash-cooldown-ms', 30_000, 0, 24 * HOUR),
    tls: loadTls(raw, file),
    ...loadTokens(raw, file),
    tracing,
  });
}

/**
 * Tracing is on when asked for, or when OTEL_TRACES_EXPORTER names an
 * exporter (as an OpenTelemetry-aware deployment sets it for every service);
 * `OFFLOAD_OTEL=false` turns it off whatever that says. Asking for it while
 * that variable says `none` is a contradiction to refuse, not to settle
 * silently.
 */
function tracingWanted(asked: boolean | undefined, source: string | undefined, env: NodeJS.ProcessEnv): boolean {
  if (asked === false) return false;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  if (asked && exporters.includes('none')) throw new ConfigError(`${source} asks for traces, but OTEL_TRACES_EXPORTER is "none"`);
  return asked === true || exporters.some((name) => name !== 'none');
}
