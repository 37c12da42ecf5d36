/**
 * The configuration's files: TLS material and bearer tokens, read and checked
 * when the configuration loads, so a bad file stops the start with an exact
 * message instead of failing at listen or at the first call.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

/** A configuration mistake; main prints the message and exits with code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface TlsConfig {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  readonly clientCa: Buffer | undefined;
}

type FileFlag = 'tls-cert' | 'tls-key' | 'tls-client-ca' | 'auth-token-file';
/** A flag's value and where it came from ("--tls-cert" or "OFFLOAD_TLS_CERT"). */
type Raw = (name: FileFlag) => { value: string; source: string } | undefined;
/** The contents of the file a flag names. */
type ReadFile = (name: FileFlag) => Buffer | undefined;


export function loadTls(raw: Raw, file: ReadFile): TlsConfig | undefined {
  const cert = file('tls-cert');
  const key = file('tls-key');
  const clientCa = file('tls-client-ca');
  if (!cert && !key && !clientCa) return undefined;
  if (!cert || !key) throw new ConfigError('--tls-cert and --tls-key must be given together');
  const named = (name: FileFlag): string => `${raw(name)!.source}: ${raw(name)!.value}`;
  // Parse everything here: grpc-js would otherwise fail at listen with a bare
  // OpenSSL error (exit 1), or, for a broken client CA, start and refuse every client.
  const leaf = parseCertificates(cert)?.[0];
  if (!leaf) throw new ConfigError(`${named('tls-cert')} is not a PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString())) {
    throw new ConfigError(`${named('tls-key')} is not a PEM private key`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: *4, *ENCRYPTED/m.test(key.toString())) {
    throw new ConfigError(`${named('tls-key')} is encrypted; offload needs an unencrypted private key`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`${named('tls-key')} is not a PEM private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${named('tls-key')} is not the private key of the certificate in ${raw('tls-cert')!.value}`);
  }
  if (clientCa && !parseCertificates(clientCa)) {
    throw new ConfigError(`${named('tls-client-ca')} is not a PEM certificate`);
  }
  return Object.freeze({ cert, key, clientCa });
}

/** Every certificate in a PEM bundle, in order; undefined when there is none or one does not parse. */
function parseCertificates(pem: Buffer): X509Certificate[] | undefined {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g);
  if (!blocks) return undefined;
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined;
  }
}

export function loadTokens(raw: Raw, file: ReadFile): string[] {
  const contents = file('auth-token-file');
  if (!contents) return [];
  const tokens = contents
    .toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (tokens.length === 0) throw new ConfigError(`${raw('auth-token-file')!.source}: ${raw('auth-token-file')!.value} holds no tokens`);
  if (tokens.some((t) => /\s/.test(t))) {
    throw new ConfigError(`${raw('auth-token-file')!.source}: a token may not contain spaces (one token per line)`);
  }
  // gRPC metadata values are visible ASCII: any other token could never be sent.
  if (tokens.some((t) => !/^[\x21-\x7e]+$/.test(t))) {
    throw new ConfigError(`${raw('auth-token-file')!.source}: a token may only contain printable ASCII characters`);
  }
  return tokens;
}
