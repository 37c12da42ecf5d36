/**
 * Throwaway TLS material for tests, made at test time with the `openssl` CLI
 * (EC prime256v1 keys, valid for a day) in a fresh temporary directory:
 *
 * - `ca`: the trusted CA;
 * - `server`: a server certificate for 127.0.0.1 and localhost, signed by `ca`;
 * - `client`: a client certificate signed by `ca`;
 * - `untrustedCa` and `untrustedClient`: an unrelated CA and a client
 *   certificate it signed, which a server trusting `ca` must refuse.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PemFile {
  readonly path: string;
  readonly pem: Buffer;
}

export interface CertificateAndKey {
  readonly cert: PemFile;
  readonly key: PemFile;
}

export interface TestCertificates {
  /** The temporary directory holding every file. */
  readonly dir: string;
  readonly ca: CertificateAndKey;
  readonly server: CertificateAndKey;
  readonly client: CertificateAndKey;
  readonly untrustedCa: CertificateAndKey;
  readonly untrustedClient: CertificateAndKey;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 20_000 });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${stderr?.trim() || message}`);
  }
}

async function load(certPath: string, keyPath: string): Promise<CertificateAndKey> {
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  return { cert: { path: certPath, pem: cert }, key: { path: keyPath, pem: key } };
}

/** A self-signed CA certificate and its key. */
async function makeCa(dir: string, name: string): Promise<CertificateAndKey> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', key, '-out', cert, '-days', '1',
    '-subj', `/CN=offload test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return load(cert, key);
}

/** A leaf certificate signed by `ca`, with the given extensions. */
async function makeLeaf(dir: string, name: string, subject: string, ca: CertificateAndKey, extensions: string[]): Promise<CertificateAndKey> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await Promise.all([
    openssl(['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', subject]),
    writeFile(ext, `${['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].join('\n')}\n`),
  ]);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert.path, '-CAkey', ca.key.path,
    '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '1', '-sha256', '-extfile', ext, '-out', cert,
  ]);
  return load(cert, key);
}

/** Makes every certificate in a new temporary directory; call `cleanup()` when done. */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'offload-certs-'));
  try {
    const [ca, untrustedCa] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'untrusted-ca')]);
    const [server, client, untrustedClient] = await Promise.all([
      makeLeaf(dir, 'server', '/CN=localhost', ca, ['extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
      makeLeaf(dir, 'client', '/CN=offload test client', ca, ['extendedKeyUsage=clientAuth']),
      makeLeaf(dir, 'untrusted-client', '/CN=offload untrusted client', untrustedCa, ['extendedKeyUsage=clientAuth']),
    ]);
    return { dir, ca, server, client, untrustedCa, untrustedClient, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
