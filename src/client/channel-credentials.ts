import { readFileSync } from 'node:fs';
import { ChannelCredentials } from '@grpc/grpc-js';

/** PEM contents, or a path to a PEM file. */
export type Pem = string | Uint8Array;

export interface TlsOptions {
  /** CA certificates to trust; default: the system's roots. */
  ca?: Pem;
  /** Client certificate and key, for servers that require mutual TLS. */
  cert?: Pem;
  key?: Pem;
}

export function createChannelCredentials(tls: boolean | TlsOptions | undefined): ChannelCredentials {
  if (!tls) return ChannelCredentials.createInsecure();
  const options = tls === true ? {} : tls;
  return ChannelCredentials.createSsl(pem(options.ca), pem(options.key), pem(options.cert));
}

function pem(value: Pem | undefined): Buffer | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') return Buffer.from(value);
  return Buffer.from(value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8'));
}
