/**
 * The server could not bind an address: "cannot listen on HOST:PORT: the
 * address is already in use". grpc-js reports a bind failure as one sentence
 * ("No address added out of total 1 resolved errors: [listen EADDRINUSE:
 * ...]"); `code` is the errno in it, when there is one.
 */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    /** Which listener failed: the gRPC port or the metrics port. */
    readonly endpoint: 'grpc' | 'metrics',
    readonly address: string,
    /** EADDRINUSE, EADDRNOTAVAIL, EACCES, ENOTFOUND; undefined when the cause has no errno. */
    readonly code: string | undefined,
    reason: string,
  ) {
    super(`cannot listen on ${address}: ${reason}`);
  }
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not one of this machine\'s',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'the host name does not resolve',
};

export function toListenError(error: unknown, endpoint: ListenError['endpoint'], address: string): ListenError {
  const message = error instanceof Error ? error.message : String(error);
  const code =
    (error as NodeJS.ErrnoException).code ??
    /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES|ENOTFOUND)\b/.exec(message)?.[1] ??
    (/^Name resolution failed/.test(message) ? 'ENOTFOUND' : undefined);
  return new ListenError(endpoint, address, code, (code !== undefined ? LISTEN_REASONS[code] : undefined) ?? message);
}
