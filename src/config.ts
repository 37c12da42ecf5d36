/**
 * The server's configuration: command-line flags, each with an OFFLOAD_*
 * environment variable behind it (a flag wins), validated once and frozen.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  readonly maxQueue: number;
  readonly taskDirs: readonly string[];
  readonly cancelGraceMs: number;
  readonly maxMessageBytes: number;
  readonly logLevel: LogLevel;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A configuration mistake; main prints the message and exits with code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every flag, its environment variable and its help line: one table for parsing, help and the README. */
export const FLAGS = {
  host: { env: 'OFFLOAD_HOST', help: 'address to listen on', default: '127.0.0.1' },
  port: { env: 'OFFLOAD_PORT', help: 'port to listen on; 0 picks a free one', default: '50051' },
  workers: { env: 'OFFLOAD_WORKERS', help: 'worker threads', default: 'available parallelism' },
  'max-queue': { env: 'OFFLOAD_MAX_QUEUE', help: 'tasks that may wait for a worker before calls are refused', default: '16 x workers' },
  tasks: { env: 'OFFLOAD_TASKS', help: 'extra task directory (repeatable; comma-separated in the env)', default: 'none' },
  'cancel-grace-ms': { env: 'OFFLOAD_CANCEL_GRACE_MS', help: 'how long a cancelled task may run on before its worker is replaced', default: '500' },
  'max-message-bytes': { env: 'OFFLOAD_MAX_MESSAGE_BYTES', help: 'largest request or response message', default: '67108864' },
  'log-level': { env: 'OFFLOAD_LOG_LEVEL', help: LOG_LEVELS.join(', '), default: 'info' },
} as const;

type FlagName = keyof typeof FLAGS;

export const USAGE = `Usage: offload serve [flags]\n\nFlags (each also read from its environment variable):\n${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name.padEnd(20)} ${f.help} [${f.env}; default ${f.default}]`)
  .join('\n')}\n`;

/** Parses and validates flags and environment; throws ConfigError with an exact message. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }])),
        tasks: { type: 'string', multiple: true },
      },
    }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }

  const raw = (name: FlagName): { value: string; source: string } | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return { value: flag, source: `--${name}` };
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

  const host = raw('host')?.value ?? '127.0.0.1';
  const port = integer('port', 50051, 0, 65535);
  const workers = integer('workers', availableParallelism(), 1, 1024);
  const maxQueue = integer('max-queue', 16 * workers, 0, 1_000_000);
  const cancelGraceMs = integer('cancel-grace-ms', 500, 0, 3_600_000);
  const maxMessageBytes = integer('max-message-bytes', 64 * 1024 * 1024, 1, 2 ** 31 - 1);
  if (host.trim() === '') throw new ConfigError(`${raw('host')?.source ?? '--host'} must not be empty`);
  const logLevel = raw('log-level')?.value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`${raw('log-level')!.source} must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const flagDirs = values['tasks'] as string[] | undefined;
  const envDirs = env[FLAGS.tasks.env]?.split(',').map((d) => d.trim()).filter(Boolean);
  const taskDirs = flagDirs ?? envDirs ?? [];
  if (taskDirs.some((d) => d.trim() === '')) throw new ConfigError('--tasks must name a directory');

  return Object.freeze({
    host,
    port,
    workers,
    maxQueue,
    taskDirs: Object.freeze([...taskDirs]),
    cancelGraceMs,
    maxMessageBytes,
    logLevel: logLevel as LogLevel,
  });
}
