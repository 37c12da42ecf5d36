/**
 * Builds the user-facing Go example (examples/go/) with its own build.sh, as a
 * user would: Debian's protoc plugins, Go, grpc-go and protobuf-go in GOPATH
 * mode, offline, into a temporary folder so the repository stays clean. Then
 * runs the binary against real servers. Needs the Go packages that
 * scripts/ensure-system-deps.sh installs; without them these tests fail rather
 * than skip.
 *
 * The first build compiles grpc-go from Debian's sources (about 25 s on two
 * idle cores); GOCACHE lives under the OS temp dir and outlives the run, so
 * later builds take about 3 s.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { repoRoot, startServer } from '../helpers/start-server.js';

const execFileAsync = promisify(execFile);
const buildScript = join(repoRoot, 'examples', 'go', 'build.sh');
const goCache = join(tmpdir(), 'offload-go-example-cache');
const missingDeps =
  'install them with scripts/ensure-system-deps.sh (golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc)';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (asynchronously: the server shares this event loop); never throws on a non-zero exit. */
async function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000): Promise<Outcome> {
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
function expectSuccess(outcome: Outcome): void {
  if (outcome.code !== 0) throw new Error(`exit ${outcome.code}\nstdout:\n${outcome.stdout}\nstderr:\n${outcome.stderr}`);
}

describe('the Go example client', () => {
  let buildDir: string | undefined;
  // The token comes from the environment unless a test passes -token, so a token in the caller's shell must not leak in.
  const runExample = (args: string[], env: NodeJS.ProcessEnv = { OFFLOAD_TOKEN: '' }): Promise<Outcome> => {
    if (!buildDir) throw new Error('beforeAll did not build the Go client');
    return runCommand(join(buildDir, 'offload-client'), args, env);
  };

  beforeAll(async () => {
    buildDir = await mkdtemp(join(tmpdir(), 'offload-go-example-'));
    // A cold cache compiles grpc-go and protobuf-go from source, which can take minutes on a loaded machine.
    const build = await runCommand('sh', [buildScript, buildDir], { GOCACHE: goCache }, 240_000);
    if (build.code !== 0) throw new Error(`examples/go/build.sh failed: ${missingDeps}\n${build.stderr}`);
  }, 300_000);

  afterAll(async () => {
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  describe('against a plaintext server without auth', () => {
    let server: ComputeServer | undefined;
    beforeAll(async () => {
      server = await startServer();
    });
    afterAll(async () => {
      await server?.close();
    });

    it('lists tasks, runs primes, streams spin progress, runs a batch and shows a refused call', async () => {
      const outcome = await runExample(['-address', server!.address]);
      expectSuccess(outcome);
      const out = outcome.stdout;

      expect(out).toMatch(/^tasks: .*\becho\b/m);
      expect(out).toMatch(/^tasks: .*\bprimes\b.*\bsha256\b.*\bspin\b/m);
      expect(out).toContain('primes below 1,000,000: 78498\n');
      expect(out).toContain('  result: {"ms":500}\n');

      // Batch results arrive in completion order, so each line is checked on its own.
      const hex = '674b679b7e50d2bd0d6ac39a605cd14b03b41adafc39b8828b8bcf197f7d7318'; // sha256("hello, offload")
      expect(out).toContain(`  hash: {"hex":"${hex}"}\n`);
      expect(out).toContain('  echo: {"greeting":"hi"}\n');
      expect(out).toContain('  primes: {"count":25}\n');
      expect(out).toMatch(/^ {2}oops: failed with NOT_FOUND: .*no-such-task/m);

      expect(out).toContain('spin 70000 ms refused: INVALID_ARGUMENT: input.ms must be <= 60000\n');
      expect(outcome.stderr).toBe('');
    });

    it('prints progress in order, between the spin header and its result, ending at 100%', async () => {
      const outcome = await runExample(['-address', server!.address]);
      expectSuccess(outcome);
      const lines = outcome.stdout.split('\n');
      const start = lines.indexOf('spin for 500 ms:');
      const end = lines.indexOf('  result: {"ms":500}');
      expect(start).toBeGreaterThanOrEqual(0);
      expect(end).toBeGreaterThan(start);

      const progress = lines.slice(start + 1, end).map((line) => {
        const match = /^ +(\d{1,3})% step ([1-5]) of 5$/.exec(line);
        if (!match) throw new Error(`not a progress line: ${JSON.stringify(line)}`);
        return { percent: Number(match[1]), step: Number(match[2]) };
      });
      expect(progress.length).toBeGreaterThan(0);
      for (let i = 1; i < progress.length; i++) {
        expect(progress[i]!.percent).toBeGreaterThanOrEqual(progress[i - 1]!.percent);
        expect(progress[i]!.step).toBeGreaterThanOrEqual(progress[i - 1]!.step);
      }
      expect(progress.at(-1)).toEqual({ percent: 100, step: 5 });
    });

    it('takes the address from OFFLOAD_ADDRESS when no -address is given', async () => {
      const outcome = await runExample([], { OFFLOAD_ADDRESS: server!.address, OFFLOAD_TOKEN: '' });
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('primes below 1,000,000: 78498\n');
    });
  });

  it('exits 1 with UNAVAILABLE when no server answers', async () => {
    // Port 1 on loopback is closed on any machine these tests run on.
    const outcome = await runExample(['-address', '127.0.0.1:1']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^error: UNAVAILABLE: /m);
  });

  describe('against a server started with --auth-token-file', () => {
    const token = 'example-token-7d2e5b';
    let server: ComputeServer | undefined;
    let tokenDir: string | undefined;
    beforeAll(async () => {
      tokenDir = await mkdtemp(join(tmpdir(), 'offload-go-token-'));
      const tokenFile = join(tokenDir, 'tokens');
      await writeFile(tokenFile, `# tokens for the Go example test\n${token}\n`);
      server = await startServer(['--auth-token-file', tokenFile]);
    });
    afterAll(async () => {
      await server?.close();
      if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
    });

    it('works when given the token with -token', async () => {
      const outcome = await runExample(['-address', server!.address, '-token', token]);
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('primes below 1,000,000: 78498\n');
      expect(outcome.stdout).toMatch(/^ {2}oops: failed with NOT_FOUND: /m);
    });

    it('works when given the token in OFFLOAD_TOKEN', async () => {
      const outcome = await runExample(['-address', server!.address], { OFFLOAD_TOKEN: token });
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('  primes: {"count":25}\n');
    });

    it('exits 1 and prints UNAUTHENTICATED without a token', async () => {
      const outcome = await runExample(['-address', server!.address]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAUTHENTICATED: missing credentials/m);
      expect(outcome.stdout).not.toContain('primes below');
    });

    it('exits 1 and prints UNAUTHENTICATED with a wrong token', async () => {
      const outcome = await runExample(['-address', server!.address, '-token', 'not-the-token']);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAUTHENTICATED: invalid bearer token/m);
    });
  });

  describe('against a TLS server', () => {
    let server: ComputeServer | undefined;
    let certificates: TestCertificates | undefined;
    beforeAll(async () => {
      certificates = await createTestCertificates();
      server = await startServer(['--tls-cert', certificates.server.cert.path, '--tls-key', certificates.server.key.path]);
    });
    afterAll(async () => {
      await server?.close();
      await certificates?.cleanup();
    });

    it('connects when given the CA with -ca', async () => {
      const outcome = await runExample(['-address', server!.address, '-ca', certificates!.ca.cert.path]);
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('primes below 1,000,000: 78498\n');
    });

    it('exits 1 with UNAVAILABLE when it does not trust the server certificate', async () => {
      const outcome = await runExample(['-address', server!.address, '-ca', certificates!.untrustedCa.cert.path]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAVAILABLE: /m);
    });
  });
});
