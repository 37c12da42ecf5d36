/**
 * Every flag of `offload serve`: its environment variable, help line and
 * default as shown, in one table that parsing, --help and the README read.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where --dashboard alone serves the page: the port OpenTelemetry's Prometheus exporter uses. */
export const DASHBOARD_PORT = 9464;

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
  'metrics-port': { env: 'OFFLOAD_METRICS_PORT', help: 'serve Prometheus metrics at http://HOST:PORT/metrics, and the dashboard at /', default: 'off' },
  dashboard: { env: 'OFFLOAD_DASHBOARD', help: `serve the live dashboard at / of the metrics port, which opens on ${DASHBOARD_PORT} unless --metrics-port names one; OFFLOAD_DASHBOARD=false serves /metrics alone`, default: 'on with --metrics-port', switch: true },
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

export type FlagName = keyof typeof FLAGS;

export const USAGE = `Usage: offload serve [flags]\n\nFlags (each also read from its environment variable):\n${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name.padEnd(28)} ${f.help} [${f.env}; default ${f.default}]`)
  .join('\n')}\n`;
