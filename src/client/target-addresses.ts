/**
 * A gRPC target read as grpc-js reads it, for what job routing needs: the
 * addresses of an `ipv4:`/`ipv6:` list, or the name and port of a `dns:`
 * target (resolved by the caller).
 */

export interface Replica {
  /** What the hash sees: `10.0.0.1:50051`, `[::1]:50051`. */
  key: string;
  /** A target that dials this replica alone. */
  target: string;
}

/** Each entry of an `ipv4:` or `ipv6:` list; undefined for any other target. */
export function listedReplicas(target: string): Replica[] | undefined {
  const scheme = /^(ipv4|ipv6):/.exec(target)?.[1];
  if (scheme === undefined) return undefined;
  const entries = target
    .slice(scheme.length + 1)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return [...new Set(entries)].map((entry) => ({ key: entry, target: `${scheme}:${entry}` }));
}

export interface DnsName {
  host: string;
  port: number;
}

/**
 * The host and port of a `dns:NAME[:PORT]` or `dns://AUTHORITY/NAME[:PORT]`
 * target; undefined for any other. A missing port is 443, as grpc-js dials.
 */
export function dnsName(target: string): DnsName | undefined {
  if (!target.startsWith('dns:')) return undefined;
  const rest = target.slice('dns:'.length).replace(/^\/\/[^/]*\//, '');
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 443) };
  const plain = /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (plain) return { host: plain[1]!, port: Number(plain[2] ?? 443) };
  return undefined;
}

/** A resolved address as a replica of `name`. */
export function resolvedReplica(address: string, family: number, port: number): Replica {
  const key = family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  return { key, target: `${family === 6 ? 'ipv6' : 'ipv4'}:${key}` };
}
