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

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  /** undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
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

interface Flag {
  env: string;
  help: string;
  default: string;
  /** A switch: `--flag` alone; its variable takes true or false. */
  switch?: true;
}

/** Every flag, its environment variable and its help line: one table for parsing, help and the README. */
export const FLAGS = {
  host: { env: 'OFFLOAD_HOST', help: 'address to listen on', default: '127.0.0.1' },
  port: { env: 'OFFLOAD_PORT', help: 'port to listen on; 0 picks a free one', default: '50051' },
  workers: { env: 'OFFLOAD_WORKERS', help: 'worker threads', default: 'available parallelism' },
  'max-queue': { env: 'OFFLOAD_MAX_QUEUE', help: 'tasks that may wait for a worker before calls get RESOURCE_EXHAUSTED', default: '16 x workers' },
  'max-queue-per-tenant': { env: 'OFFLOAD_MAX_QUEUE_PER_TENANT', help: "tasks one tenant may have waiting before its calls get RESOURCE_EXHAUSTED (others' are still admitted)", default: '--max-queue' },
  tasks: { env: 'OFFLOAD_TASKS', help: 'extra task directory (repeatable; comma-separated in the env)', default: 'none' },
  'cancel-grace-ms': { env: 'OFFLOAD_CANCEL_GRACE_MS', help: 'how long a cancelled task may run on before its worker is replaced', default: '500' },
  'max-message-bytes': { env: 'OFFLOAD_MAX_MESSAGE_BYTES', help: 'largest request or response message', default: '67108864' },
  'log-level': { env: 'OFFLOAD_LOG_LEVEL', help: LOG_LEVELS.join(', '), default: 'info' },
  'shutdown-grace-ms': { env: 'OFFLOAD_SHUTDOWN_GRACE_MS', help: 'how long in-flight calls may take to finish after SIGTERM', default: '30000' },
  'heartbeat-ms': { env: 'OFFLOAD_HEARTBEAT_MS', help: 'longest silence on a RunStream/RunBatch stream with work in flight', default: '15000' },
  'keepalive-ms': { env: 'OFFLOAD_KEEPALIVE_MS', help: 'interval of HTTP/2 keepalive pings to clients', default: '30000' },
  'keepalive-timeout-ms': { env: 'OFFLOAD_KEEPALIVE_TIMEOUT_MS', help: 'how long a ping may go unanswered before the connection is closed', default: '10000' },
  'max-connection-age-ms': { env: 'OFFLOAD_MAX_CONNECTION_AGE_MS', help: 'close connections after this long so clients re-balance; 0: never', default: '0' },
  'max-connection-age-grace-ms': { env: 'OFFLOAD_MAX_CONNECTION_AGE_GRACE_MS', help: 'time calls on an aged connection get to finish', default: '30000' },
  'metrics-port': { env: 'OFFLOAD_METRICS_PORT', help: 'serve Prometheus metrics at http://HOST:PORT/metrics', default: 'off' },
  'job-retention-ms': { env: 'OFFLOAD_JOB_RETENTION_MS', help: 'how long a finished job (Submit) stays readable by Watch and GetJob', default: '600000' },
  'max-jobs': { env: 'OFFLOAD_MAX_JOBS', help: 'finished jobs kept at most; the oldest go first', default: '10000' },
  'job-store-mb': { env: 'OFFLOAD_JOB_STORE_MB', help: "MB of finished jobs' results kept at most; the oldest go first", default: '256' },
  'cache-mb': { env: 'OFFLOAD_CACHE_MB', help: 'MB of results of cacheable tasks kept (least recently used go first); 0 turns caching and sharing identical runs off', default: '64' },
  'cache-ttl-ms': { env: 'OFFLOAD_CACHE_TTL_MS', help: 'how long a cached result may be answered again', default: '3600000' },
  'priority-aging-ms': { env: 'OFFLOAD_PRIORITY_AGING_MS', help: 'a low-priority run that waited this long is treated as normal; 0: never', default: '30000' },
  'max-run-ms': { env: 'OFFLOAD_MAX_RUN_MS', help: 'longest any task may run (tasks may set a lower timeoutMs); 0: no limit', default: '600000' },
  'max-queue-ms': { env: 'OFFLOAD_MAX_QUEUE_MS', help: 'longest a task may wait for a worker; 0: no limit', default: '30000' },
  'worker-max-memory-mb': { env: 'OFFLOAD_WORKER_MAX_MEMORY_MB', help: "heap limit per worker; a task beyond it fails alone; 0: V8's default", default: "from the container's memory limit, else 0" },
  'worker-nice': { env: 'OFFLOAD_WORKER_NICE', help: 'how much lower worker threads run than the event loop (nice, 0-19), so the loop answers at once', default: '10' },
  'crash-limit': { env: 'OFFLOAD_CRASH_LIMIT', help: 'worker crashes in a row after which a task is refused for a while; 0: never', default: '5' },
  'crash-cooldown-ms': { env: 'OFFLOAD_CRASH_COOLDOWN_MS', help: 'how long a task that keeps crashing is refused', default: '30000' },
  'tls-cert': { env: 'OFFLOAD_TLS_CERT', help: 'PEM certificate chain; serve TLS (needs --tls-key)', default: 'plaintext' },
  'tls-key': { env: 'OFFLOAD_TLS_KEY', help: 'PEM private key for --tls-cert', default: 'none' },
  'tls-client-ca': { env: 'OFFLOAD_TLS_CLIENT_CA', help: 'PEM CA bundle; require client certificates signed by it (mutual TLS)', default: 'none' },
  'auth-token-file': { env: 'OFFLOAD_AUTH_TOKEN_FILE', help: 'file of bearer tokens, one per line as TOKEN, NAME:TOKEN or NAME:TOKEN:WEIGHT (NAME: the tenant); calls must send one', default: 'no auth' },
  otel: { env: 'OFFLOAD_OTEL', help: 'trace calls with OpenTelemetry, configured by the standard OTEL_* variables; on as well when OTEL_TRACES_EXPORTER names an exporter', default: 'off', switch: true },
} as const satisfies Record<string, Flag>;

type FlagName = keyof typeof FLAGS;

export const USAGE = `Usage: offload serve [flags]\n\nFlags (each also read from its environment variable):\n${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name.padEnd(28)} ${f.help} [${f.env}; default ${f.default}]`)
  .join('\n')}\n`;

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

  const metricsPort = raw('metrics-port') ? integer('metrics-port', 0, 0, 65535) : undefined;
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
