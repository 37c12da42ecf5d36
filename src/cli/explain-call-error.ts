/**
 * A failed call as the one line the CLI prints. grpc-js describes a
 * connection it could not make in its load balancer's terms ("round_robin:
 * No connection established. Last error: ... Resolution note: "), often with
 * OpenSSL's internals; a user needs the address, the reason and what to try.
 */
import { ClientError } from 'nice-grpc';
import { OffloadError, Status } from '../errors.js';
import { CliError } from './cli-error.js';

export interface CallContext {
  /** The target the command dialled, as the user knows it. */
  readonly address: string;
  /** Whether the command spoke TLS (--tls or --tls-ca). */
  readonly tls: boolean;
  /** What to say when the command's own time limit ran out: "no answer from HOST:PORT within 10 s". */
  readonly timeoutMessage: string;
}

/**
 * A CliError (exit 1) with "STATUS: message" for a failed call; anything
 * else (a bug, a local file error) is returned as it is, for the caller to
 * rethrow.
 */
export function explainCallError(error: unknown, context: CallContext): unknown {
  const failure = toFailure(error);
  if (!failure) return error;
  return new CliError(`${Status[failure.code]}: ${describeFailure(failure, context)}`, 1);
}

interface Failure {
  code: Status;
  message: string;
  /** The client gave up at its own deadline or timeout (not a server's run time limit). */
  timedOut: boolean;
}

function toFailure(error: unknown): Failure | undefined {
  if (error instanceof ClientError || error instanceof OffloadError) {
    const message = error instanceof ClientError ? error.details : error.message;
    // OffloadError.from wraps what it does not know as "internal error"; the detail is what happened.
    const shown = error instanceof OffloadError && message === 'internal error' && error.detail ? error.detail : message;
    // grpc-js words its own client-side deadline "Deadline exceeded" (with timings); a server's limit names the task.
    return { code: error.code, message: shown, timedOut: error.code === Status.DEADLINE_EXCEEDED && /^Deadline exceeded/.test(message) };
  }
  // AbortSignal.timeout() rejects with a TimeoutError; an aborted signal with an AbortError.
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return { code: Status.DEADLINE_EXCEEDED, message: error.message, timedOut: true };
  }
  return undefined;
}

function describeFailure({ code, message, timedOut }: Failure, context: CallContext): string {
  if (timedOut) return context.timeoutMessage;
  if (code === Status.UNAVAILABLE) return describeUnavailable(message, context);
  return message;
}

/** Why a connection failed, by the errno Node reports, and what to try. */
const CONNECT_ERRORS: Record<string, { reason: string; hint?: string }> = {
  ECONNREFUSED: { reason: 'connection refused', hint: 'is the server running?' },
  ENOENT: { reason: 'no such socket', hint: 'is the server running?' },
  ETIMEDOUT: { reason: 'connection timed out', hint: 'is the server running, and reachable from here?' },
  EHOSTUNREACH: { reason: 'host unreachable', hint: 'is the address right?' },
  ENETUNREACH: { reason: 'network unreachable', hint: 'is the address right?' },
  ECONNRESET: { reason: 'connection reset by the server' },
};

/** Exported for tests: grpc-js's UNAVAILABLE message for a connection it could not make, explained. */
export function describeUnavailable(message: string, { address, tls }: Pick<CallContext, 'address' | 'tls'>): string {
  const reach = `cannot reach ${address}`;
  const cause = lastError(message);
  if (cause === undefined) {
    if (/^Name resolution failed/.test(message)) return `${reach} (the host name does not resolve); is the address right?`;
    return trimWrapper(message);
  }
  if (/\b(ENOTFOUND|EAI_AGAIN)\b/.test(cause)) return `${reach} (the host name does not resolve); is the address right?`;
  const known = CONNECT_ERRORS[/\b(E[A-Z]+)\b/.exec(cause)?.[1] ?? ''];
  if (known) return `${reach} (${known.reason})${known.hint ? `; ${known.hint}` : ''}`;

  const handshake = `TLS handshake with ${address} failed`;
  const openssl = /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(cause)?.[1];
  if (openssl !== undefined) {
    // A plaintext server answers a ClientHello with HTTP/2 bytes, which OpenSSL reads as a bad record version.
    if (/wrong version number|packet length too long|http request/.test(openssl)) return `${handshake}: the server does not speak TLS (drop --tls?)`;
    if (/certificate required/.test(openssl)) return `${handshake}: the server wants a client certificate (--tls-cert and --tls-key)`;
    return `${handshake}: ${openssl}`;
  }
  if (tls && /certificate|altnames/i.test(cause)) {
    const untrusted = /self[- ]signed|unable to (verify|get local issuer)/i.test(cause);
    return `${handshake}: ${cause}${untrusted ? ' (trust its CA with --tls-ca?)' : ''}`;
  }
  // grpc-js says only "Failed to connect" when the connection closed before HTTP/2 started,
  // which is what a TLS server does to a plaintext client.
  if (/^Failed to connect$/.test(cause)) {
    return `${reach} (the connection closed before gRPC started)${tls ? '' : '; if the server uses TLS, add --tls or --tls-ca'}`;
  }
  return `${reach}: ${cause}`;
}

/** The innermost "Last error: ..." of a pick_first/round_robin message, without its timestamp and "Error: ". */
function lastError(message: string): string | undefined {
  const at = message.lastIndexOf('Last error: ');
  if (at === -1) return undefined;
  return message
    .slice(at + 'Last error: '.length)
    .replace(/\. Resolution note: [^]*$/, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)\s*$/, '')
    .replace(/^Error: /, '')
    .trim();
}

function trimWrapper(message: string): string {
  return message.replace(/^round_robin: /, '').replace(/\. Resolution note: $/, '').trim();
}
