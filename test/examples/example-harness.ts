/**
 * What the example-client tests (Python, Go) share: running a client program
 * to completion, and the servers it is run against (plaintext, bearer token,
 * TLS), each started for one describe block.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { repoRoot, startServer } from '../helpers/start-server.js';

const execFileAsync = promisify(execFile);

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (asynchronously: the server shares this event loop); never throws on a non-zero exit. */
export async function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout,
    });
    return { code: 0, stdout, stderr };
  } catch (thrown) {
    const error = thrown as { code?: number | string; killed?: boolean; signal?: string | null; stdout?: string; stderr?: string; message: string };
    if (error.killed || typeof error.code !== 'number') {
      throw new Error(`${file} ${args.join(' ')} did not run to completion (${error.signal ?? String(error.code)}): ${error.stderr?.trim() || error.message}`);
    }
    return { code: error.code, stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
  }
}

/** Fails with the command's output unless it exited 0. */
export function expectSuccess(outcome: Outcome): void {
  if (outcome.code !== 0) throw new Error(`exit ${outcome.code}\nstdout:\n${outcome.stdout}\nstderr:\n${outcome.stderr}`);
}

/** A server for the tests of the enclosing describe block; `server` is set once it has started. */
export interface ExampleServer {
  server: ComputeServer | undefined;
}

/** A plaintext server without auth. */
export function usePlainServer(): ExampleServer {
  const current: ExampleServer = { server: undefined };
  beforeAll(async () => {
    current.server = await startServer();
  });
  afterAll(async () => {
    await current.server?.close();
  });
  return current;
}

/** A server started with --auth-token-file holding `token`. */
export function useTokenServer(token: string): ExampleServer {
  const current: ExampleServer = { server: undefined };
  let tokenDir: string | undefined;
  beforeAll(async () => {
    tokenDir = await mkdtemp(join(tmpdir(), 'offload-example-token-'));
    const tokenFile = join(tokenDir, 'tokens');
    await writeFile(tokenFile, `# tokens for an example client's test\n${token}\n`);
    current.server = await startServer(['--auth-token-file', tokenFile]);
  });
  afterAll(async () => {
    await current.server?.close();
    if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
  });
  return current;
}

/** A TLS server, with the certificates (a trusted and an untrusted CA) to call it. */
export function useTlsServer(): ExampleServer & { certificates: TestCertificates | undefined } {
  const current: ExampleServer & { certificates: TestCertificates | undefined } = { server: undefined, certificates: undefined };
  beforeAll(async () => {
    current.certificates = await createTestCertificates();
    current.server = await startServer(['--tls-cert', current.certificates.server.cert.path, '--tls-key', current.certificates.server.key.path]);
  });
  afterAll(async () => {
    await current.server?.close();
    await current.certificates?.cleanup();
  });
  return current;
}
