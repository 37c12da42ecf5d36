/**
 * Flags every client command shares: where the server is and how to reach it.
 */
import { readFileSync } from 'node:fs';
import type { ComputeClientOptions } from '../client/create-compute-client.js';
import { FlagError, parseFlags, type FlagSpecs } from '../parse-flags.js';
import type { RunPriority } from '../client/events.js';
import { isTenantName, TENANT_NAME_RULE } from '../tenant-name.js';
import { CliError } from './cli-error.js';

export const CLIENT_OPTIONS = {
  address: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  tenant: { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagSpecs;

export const CLIENT_USAGE = `Connection flags:
  --address HOST[:PORT] server or replicas (ipv4:A,B or dns:NAME); a host without a port means 50051
                        [OFFLOAD_ADDRESS; default 127.0.0.1:50051]
  --token TOKEN         bearer token [OFFLOAD_TOKEN]
  --token-file FILE     read the bearer token from FILE (its first line)
  --tenant NAME         whose work this is, on a server without auth (with auth
                        the token decides) [OFFLOAD_TENANT; default: default]
  --tls                 use TLS with the system's roots
  --tls-ca FILE         use TLS trusting this CA
  --tls-cert FILE       client certificate, for mutual TLS (with --tls-key)
  --tls-key FILE        client key`;

/** Parsed flags: strings for string options, booleans for boolean ones. */
export type Values = Record<string, string | boolean | undefined>;

/**
 * Parses argv with the shared flags plus the command's own (`command` is
 * "offload run", say); a bad flag is a usage error that points at the
 * command's help.
 */
export function parseCommandArgs(argv: string[], options: FlagSpecs, command: string): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseFlags(argv, { ...CLIENT_OPTIONS, ...options }, { allowPositionals: true });
    return { values: values as Values, positionals };
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    if (error.problem === 'unknown-flag') throw new CliError(`unknown flag ${error.flag} for "${command}"; see ${command} --help`);
    throw new CliError(error.message);
  }
}

/** A string flag's value (parseArgs has already checked its type). */
export function stringFlag(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** --priority, checked: low, normal or high. */
export function priorityFlag(values: Values): RunPriority | undefined {
  const value = stringFlag(values, 'priority');
  if (value === undefined || value === 'low' || value === 'normal' || value === 'high') return value;
  throw new CliError(`--priority must be low, normal or high, not "${value}"`);
}

/** The port `offload serve` listens on unless told otherwise. */
export const DEFAULT_PORT = 50051;

export function clientTarget(values: Values, env: NodeJS.ProcessEnv = process.env): { address: string; options: ComputeClientOptions } {
  const flag = (name: string): string | undefined => stringFlag(values, name);
  const address = addDefaultPort(flag('address') ?? env['OFFLOAD_ADDRESS'] ?? `127.0.0.1:${DEFAULT_PORT}`);
  const tokenFile = flag('token-file');
  const token = flag('token') ?? (tokenFile ? firstLine(tokenFile) : env['OFFLOAD_TOKEN']);
  const tenant = tenantFlag(flag('tenant'), env['OFFLOAD_TENANT']);
  const [ca, cert, key] = [flag('tls-ca'), flag('tls-cert'), flag('tls-key')];
  if (cert && !key) throw new CliError('--tls-cert needs --tls-key');
  const tls = values['tls'] === true || ca || cert ? strip({ ca: ca && read(ca), cert: cert && read(cert), key: key && read(key) }) : undefined;
  return { address, options: { ...(token ? { token } : {}), ...(tenant !== undefined ? { tenant } : {}), ...(tls ? { tls } : {}) } };
}

/** --tenant, else a non-empty OFFLOAD_TENANT, checked here so a bad name is a usage error (exit 2). */
function tenantFlag(fromFlag: string | undefined, fromEnv: string | undefined): string | undefined {
  const [tenant, source] = fromFlag !== undefined ? [fromFlag, '--tenant'] : [fromEnv || undefined, 'OFFLOAD_TENANT'];
  if (tenant === undefined || isTenantName(tenant)) return tenant;
  throw new CliError(`${source} must be ${TENANT_NAME_RULE} (got "${tenant}")`);
}

/**
 * The target with offload's port added to every host that has none: grpc-js
 * would dial 443 (or 80) instead, and a user who types `--address
 * 127.0.0.1` means offload's own port. Covers `host`, `[v6]`, a bare v6
 * address, each entry of an `ipv4:`/`ipv6:` list and a `dns:` name; `unix:`
 * paths have no port. The library client leaves targets as grpc-js reads them.
 */
export function addDefaultPort(target: string, port = DEFAULT_PORT): string {
  const scheme = /^(dns|ipv4|ipv6|unix|unix-abstract):/.exec(target)?.[1];
  if (scheme === undefined) return addPortToHost(target, port);
  if (scheme.startsWith('unix')) return target;
  const rest = target.slice(scheme.length + 1);
  if (scheme === 'dns') {
    const authority = /^\/\/[^/]*\//.exec(rest)?.[0] ?? '';
    return `dns:${authority}${addPortToHost(rest.slice(authority.length), port)}`;
  }
  return `${scheme}:${rest
    .split(',')
    .map((entry) => addPortToHost(entry, port))
    .join(',')}`;
}

/** Follows grpc-js's reading of host[:port]: brackets hold v6; one colon splits off a port; more mean a bare v6 address. */
function addPortToHost(host: string, port: number): string {
  if (host === '') return host;
  if (host.startsWith('[')) return host.endsWith(']') ? `${host}:${port}` : host;
  const colons = host.split(':').length - 1;
  if (colons === 0) return `${host}:${port}`;
  if (colons === 1) return host.endsWith(':') ? `${host}${port}` : host;
  return `[${host}]:${port}`;
}

/** "30s", "500ms", "2m", "1h"; a bare number is seconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new CliError(`${flag} must be a duration such as 500ms, 30s or 2m (got "${text}")`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return Number(match[1]) * scale;
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function firstLine(file: string): string {
  return read(file).toString('utf8').split(/\r?\n/)[0]!.trim();
}

function strip<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as T;
}
