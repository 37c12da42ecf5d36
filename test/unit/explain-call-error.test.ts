import { ClientError, Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import { describeUnavailable, explainCallError } from '../../src/cli/explain-call-error.js';
import { OffloadError } from '../../src/errors.js';

const plain = { address: '127.0.0.1:50051', tls: false };
const tls = { address: '127.0.0.1:50051', tls: true };
const context = { ...plain, timeoutMessage: 'no answer from 127.0.0.1:50051 within 10 s' };

// Messages as grpc-js 1.14 words them (round_robin wraps pick_first's).
const noConnection = (cause: string): string =>
  `round_robin: No connection established. Last error: No connection established. Last error: ${cause}. Resolution note: `;

describe('describeUnavailable', () => {
  it('says a refused connection means no server is running there', () => {
    expect(describeUnavailable(noConnection('Error: connect ECONNREFUSED 127.0.0.1:50051'), plain)).toBe(
      'cannot reach 127.0.0.1:50051 (connection refused); is the server running?',
    );
  });

  it('says a name that does not resolve, from the resolver or from connect', () => {
    const expected = 'cannot reach 127.0.0.1:50051 (the host name does not resolve); is the address right?';
    expect(describeUnavailable('Name resolution failed for target dns:nosuch.invalid:50051', plain)).toBe(expected);
    expect(describeUnavailable(noConnection('Error: getaddrinfo ENOTFOUND nosuch.invalid'), plain)).toBe(expected);
  });

  it('says a connection timed out, or a network or host is unreachable', () => {
    expect(describeUnavailable(noConnection('Error: connect ETIMEDOUT 10.0.0.1:50051'), plain)).toBe(
      'cannot reach 127.0.0.1:50051 (connection timed out); is the server running, and reachable from here?',
    );
    expect(describeUnavailable(noConnection('Error: connect ENETUNREACH 10.255.255.1:50051'), plain)).toBe(
      'cannot reach 127.0.0.1:50051 (network unreachable); is the address right?',
    );
  });

  it('tells a TLS client whose server speaks plaintext to drop --tls', () => {
    const openssl =
      '80EC6F43917F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n (2026-01-01T10:00:00.000Z)';
    expect(describeUnavailable(noConnection(`Error: ${openssl}`), tls)).toBe(
      'TLS handshake with 127.0.0.1:50051 failed: the server does not speak TLS (drop --tls?)',
    );
  });

  it('names the TLS reason without OpenSSL\'s internals, with a hint where one helps', () => {
    const required =
      '80CC4D76A77F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n (2026-01-01T10:00:00.000Z)';
    expect(describeUnavailable(noConnection(required), tls)).toBe(
      'TLS handshake with 127.0.0.1:50051 failed: the server wants a client certificate (--tls-cert and --tls-key)',
    );
    expect(describeUnavailable(noConnection('Error: self-signed certificate'), tls)).toBe(
      'TLS handshake with 127.0.0.1:50051 failed: self-signed certificate (trust its CA with --tls-ca?)',
    );
  });

  it('suggests TLS when a plaintext connection closes before HTTP/2 starts', () => {
    expect(describeUnavailable(noConnection('Failed to connect (2026-01-01T10:00:00.000Z)'), plain)).toBe(
      'cannot reach 127.0.0.1:50051 (the connection closed before gRPC started); if the server uses TLS, add --tls or --tls-ca',
    );
  });

  it('falls back to grpc-js\'s last error without its wrappers, and leaves a server\'s own message alone', () => {
    expect(describeUnavailable(noConnection('Error: something new'), plain)).toBe('cannot reach 127.0.0.1:50051: something new');
    expect(describeUnavailable('server shutting down', plain)).toBe('server shutting down');
  });
});

describe('explainCallError', () => {
  it('turns a failed call into a CliError with exit code 1 and the status name', () => {
    const error = explainCallError(new ClientError('/offload.v1.ComputeService/Run', Status.INVALID_ARGUMENT, 'input.ms must be <= 60000'), context);
    expect(error).toEqual(new CliError('INVALID_ARGUMENT: input.ms must be <= 60000', 1));
    expect((error as CliError).exitCode).toBe(1);
    expect(explainCallError(new OffloadError(Status.UNAVAILABLE, noConnection('Error: connect ECONNREFUSED 127.0.0.1:50051')), context)).toEqual(
      new CliError('UNAVAILABLE: cannot reach 127.0.0.1:50051 (connection refused); is the server running?', 1),
    );
  });

  it('says the client\'s own time limit ran out, but keeps a server\'s run time limit message', () => {
    const timedOut = new CliError('DEADLINE_EXCEEDED: no answer from 127.0.0.1:50051 within 10 s', 1);
    expect(explainCallError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), context)).toEqual(timedOut);
    expect(explainCallError(new ClientError('/offload.v1.ComputeService/ListTasks', Status.DEADLINE_EXCEEDED, 'Deadline exceeded'), context)).toEqual(timedOut);
    const limit = new OffloadError(Status.DEADLINE_EXCEEDED, 'task spin exceeded its run time limit of 100 ms');
    expect(explainCallError(limit, context)).toEqual(new CliError('DEADLINE_EXCEEDED: task spin exceeded its run time limit of 100 ms', 1));
  });

  it('returns anything that is not a failed call unchanged', () => {
    const bug = new TypeError('oops');
    expect(explainCallError(bug, context)).toBe(bug);
  });
});
