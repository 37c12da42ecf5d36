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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/start-server.js';
import { expectSuccess, runCommand, usePlainServer, useTlsServer, useTokenServer, type Outcome } from './example-harness.js';

const buildScript = join(repoRoot, 'examples', 'go', 'build.sh');
const goCache = join(tmpdir(), 'offload-go-example-cache');
const missingDeps =
  'install them with scripts/ensure-system-deps.sh (golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc)';

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
    const plain = usePlainServer();

    it('lists tasks, runs primes, streams spin progress, runs a batch and shows a refused call', async () => {
      const outcome = await runExample(['-address', plain.server!.address]);
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
      const outcome = await runExample(['-address', plain.server!.address]);
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
      const outcome = await runExample([], { OFFLOAD_ADDRESS: plain.server!.address, OFFLOAD_TOKEN: '' });
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
    const authed = useTokenServer(token);

    it('works when given the token with -token', async () => {
      const outcome = await runExample(['-address', authed.server!.address, '-token', token]);
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('primes below 1,000,000: 78498\n');
      expect(outcome.stdout).toMatch(/^ {2}oops: failed with NOT_FOUND: /m);
    });

    it('works when given the token in OFFLOAD_TOKEN', async () => {
      const outcome = await runExample(['-address', authed.server!.address], { OFFLOAD_TOKEN: token });
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('  primes: {"count":25}\n');
    });

    it('exits 1 and prints UNAUTHENTICATED without a token', async () => {
      const outcome = await runExample(['-address', authed.server!.address]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAUTHENTICATED: missing credentials/m);
      expect(outcome.stdout).not.toContain('primes below');
    });

    it('exits 1 and prints UNAUTHENTICATED with a wrong token', async () => {
      const outcome = await runExample(['-address', authed.server!.address, '-token', 'not-the-token']);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAUTHENTICATED: invalid bearer token/m);
    });
  });

  describe('against a TLS server', () => {
    const tls = useTlsServer();

    it('connects when given the CA with -ca', async () => {
      const outcome = await runExample(['-address', tls.server!.address, '-ca', tls.certificates!.ca.cert.path]);
      expectSuccess(outcome);
      expect(outcome.stdout).toContain('primes below 1,000,000: 78498\n');
    });

    it('exits 1 with UNAVAILABLE when it does not trust the server certificate', async () => {
      const outcome = await runExample(['-address', tls.server!.address, '-ca', tls.certificates!.untrustedCa.cert.path]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/^error: UNAVAILABLE: /m);
    });
  });
});
