/**
 * The configuration's files: TLS material and bearer tokens, read and checked
 * when the configuration loads, so a bad file stops the start with an exact
 * message instead of failing at listen or at the first call.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { DEFAULT_TENANT, isTenantName, TENANT_NAME_RULE } from './tenant-name.js';

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

/** A tenant's largest share relative to a tenant of weight 1. */
const MAX_WEIGHT = 1000;

/** A bearer token and the tenant whose calls it authenticates. */
export interface AuthToken {
  readonly token: string;
  readonly tenant: string;
}

export interface TokenFile {
  readonly auth: readonly AuthToken[];
  /** Every tenant the file names, with its weight (1 unless a line gives one). */
  readonly tenantWeights: ReadonlyMap<string, number>;
}

/**
 * Reads the token file: each line `TOKEN` (tenant "default"), `NAME:TOKEN`
 * or `NAME:TOKEN:WEIGHT`. A tenant may have several tokens, so one can be
 * rotated while the other still works; its weight need be written only once.
 * Messages name the line, never what is on it: it holds a secret.
 */
export function loadTokens(raw: Raw, file: ReadFile): TokenFile {
  const contents = file('auth-token-file');
  if (!contents) return Object.freeze({ auth: Object.freeze([]), tenantWeights: Object.freeze(new Map<string, number>()) });
  const { source, value: path } = raw('auth-token-file')!;
  const lines = contents
    .toString('utf8')
    .split(/\r?\n/)
    .map((text, index) => ({ text: text.trim(), number: index + 1 }))
    .filter(({ text }) => text !== '' && !text.startsWith('#'));
  if (lines.length === 0) throw new ConfigError(`${source}: ${path} holds no tokens`);
  if (lines.some(({ text }) => /\s/.test(text))) {
    throw new ConfigError(`${source}: a token may not contain spaces (one token per line)`);
  }
  // gRPC metadata values are visible ASCII: any other token could never be sent.
  if (lines.some(({ text }) => !/^[\x21-\x7e]+$/.test(text))) {
    throw new ConfigError(`${source}: a token may only contain printable ASCII characters`);
  }

  const auth: AuthToken[] = [];
  const lineOfToken = new Map<string, number>();
  const weights = new Map<string, { weight: number; line: number }>();
  for (const { text, number } of lines) {
    const fail = (problem: string): never => {
      throw new ConfigError(`${source}: line ${number} of ${path}: ${problem}`);
    };
    const parts = text.split(':');
    if (parts.length > 3) fail('too many ":" (a line is TOKEN, NAME:TOKEN or NAME:TOKEN:WEIGHT)');
    const [tenant, token, weightText] = parts.length === 1 ? [DEFAULT_TENANT, parts[0]!, undefined] : [parts[0]!, parts[1]!, parts[2]];
    if (!isTenantName(tenant)) fail(`the tenant name must be ${TENANT_NAME_RULE}`);
    if (token === '') fail('the token is empty (a line is TOKEN, NAME:TOKEN or NAME:TOKEN:WEIGHT)');
    const earlier = lineOfToken.get(token);
    if (earlier !== undefined) fail(`the token of line ${earlier} again; write each token once`);
    lineOfToken.set(token, number);
    auth.push(Object.freeze({ token, tenant }));
    if (weightText === undefined) continue;
    const weight = /^\d{1,4}$/.test(weightText) ? Number(weightText) : NaN;
    if (!(weight >= 1 && weight <= MAX_WEIGHT)) fail(`the weight must be an integer from 1 to ${MAX_WEIGHT}`);
    const given = weights.get(tenant);
    if (given && given.weight !== weight) fail(`weight ${weight} for tenant ${tenant}, which line ${given.line} gives weight ${given.weight}; give a tenant one weight`);
    weights.set(tenant, given ?? { weight, line: number });
  }
  // Object.freeze does not stop Map.set; the ReadonlyMap type does, for everyone who reads the config.
  const tenantWeights = Object.freeze(new Map(auth.map(({ tenant }) => [tenant, weights.get(tenant)?.weight ?? 1])));
  return Object.freeze({ auth: Object.freeze(auth), tenantWeights });
}
