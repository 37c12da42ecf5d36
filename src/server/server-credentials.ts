import { ServerCredentials } from '@grpc/grpc-js';
import type { TlsConfig } from '../config.js';

/** Plaintext, TLS, or mutual TLS (client certificates required) when a client CA is given. */
export function createServerCredentials(tls: TlsConfig | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
}
