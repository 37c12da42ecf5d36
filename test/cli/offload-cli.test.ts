import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { repoRoot, startServer } from '../helpers/start-server.js';
import { eventually } from '../helpers/eventually.js';

// The real binary, compiled by test/global-setup.ts.
const BIN = join(repoRoot, 'dist/src/cli/offload.js');
const exec = promisify(execFile);

let server: ComputeServer;
let dir: string;

beforeAll(async () => {
  server = await startServer(['--workers', '2']);
  dir = await mkdtemp(join(tmpdir(), 'offload-cli-'));
});
afterAll(async () => server.close());

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function offload(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], {
      env: { ...process.env, OFFLOAD_ADDRESS: server.address, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('offload tasks', () => {
  it('prints a table of tasks with their input fields', async () => {
    const { code, stdout } = await offload(['tasks']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^TASK\s+INPUT\s+DESCRIPTION/);
    expect(stdout).toMatch(/spin\s+ms: integer 0\.\.60000, steps\?: integer 1\.\.10000 = 10\s+Keeps one CPU core busy/);
  });
});

describe('offload run', () => {
  it('prints one JSON event per line when stdout is not a terminal', async () => {
    const { code, stdout } = await offload(['run', 'spin', '--input', '{"ms":200,"steps":4}']);
    expect(code).toBe(0);
    const events = jsonLines(stdout);
    expect(events[0]).toMatchObject({ type: 'started' });
    const fractions = events.filter((e) => e['type'] === 'progress').map((e) => e['fraction'] as number);
    // Progress is the latest, not every report: a reader that falls behind skips to the newest.
    expect(fractions.length).toBeGreaterThan(0);
    expect(fractions.every((f) => [0.25, 0.5, 0.75, 1].includes(f))).toBe(true);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 200 }, dataBytes: 0 });
  });

  it('runs a task at the --priority given', async () => {
    const { code, stdout } = await offload(['run', 'echo', '--input', '"hi"', '--priority', 'high', '--json']);
    expect(code).toBe(0);
    expect(jsonLines(stdout).at(-1)).toMatchObject({ type: 'result', output: 'hi' });
  });

  it('says when a result was cached, and computes afresh with --no-cache', async () => {
    const args = ['run', 'primes', '--input', '{"limit":12345}', '--json'];
    await offload(args);
    expect(jsonLines((await offload(args)).stdout).at(-1)).toMatchObject({ type: 'result', output: { count: 1474 }, cached: true });
    expect(jsonLines((await offload([...args, '--no-cache'])).stdout).at(-1)).toMatchObject({ type: 'result', cached: false });
  });

  it('reads input from @file, sends --data-file and writes result bytes to --out', async () => {
    const input = join(dir, 'input.json');
    const payload = join(dir, 'payload.bin');
    const out = join(dir, 'out.bin');
    await writeFile(input, '{"note":"from a file"}');
    await writeFile(payload, Buffer.from('offload me'));
    const hashed = await offload(['run', 'sha256', '--data-file', payload, '--json']);
    expect(jsonLines(hashed.stdout).at(-1)).toMatchObject({ output: { hex: createHash('sha256').update('offload me').digest('hex') } });
    const echoed = await offload(['run', 'echo', '--input', `@${input}`, '--data-file', payload, '--out', out, '--json']);
    expect(jsonLines(echoed.stdout).at(-1)).toMatchObject({ output: { note: 'from a file' }, dataBytes: 10 });
    expect((await readFile(out)).toString()).toBe('offload me');
  });

  it('shows a live progress bar on a terminal, then the output', async () => {
    // `script` gives the command a pseudo-terminal, as a user's shell would.
    const command = `${process.execPath} ${BIN} run spin --input '{"ms":600,"steps":6}'`;
    const { stdout } = await exec('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, OFFLOAD_ADDRESS: server.address } });
    const frames = stdout.split('\r');
    expect(frames.some((f) => /spin \[#+-*\]\s+50%\s+step 3 of 6\s+\d+\.\ds/.test(f))).toBe(true);
    expect(stdout).toContain('"ms": 600');
    expect(stdout).toMatch(/done in \d+\.\d ms/);
  });

  it('prints the status and message of a failed call to stderr and exits 1, pointing at `offload tasks` for an unknown task', async () => {
    const missing = await offload(['run', 'nope']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('offload: NOT_FOUND: unknown task "nope"; `offload tasks` lists the tasks this server runs\n');
    const invalid = await offload(['run', 'spin', '--input', '{"ms":70000}']);
    expect(invalid).toMatchObject({ code: 1, stderr: 'offload: INVALID_ARGUMENT: input.ms must be <= 60000\n' });
  });

  it('exits 2 on bad usage', async () => {
    expect(await offload(['run'])).toMatchObject({ code: 2 });
    expect((await offload(['run', 'spin', '--input', '{ms:1}'])).stderr).toMatch(/^offload: --input is not valid JSON/);
    expect((await offload(['run', 'spin', '--deadline', 'soon'])).stderr).toMatch(/^offload: --deadline must be a duration/);
    expect(await offload(['run', 'spin', '--priority', 'urgent'])).toMatchObject({ code: 2, stderr: 'offload: --priority must be low, normal or high, not "urgent"\n' });
    expect(await offload(['frobnicate'])).toMatchObject({ code: 2 });
  });

  it('gives up at --deadline with DEADLINE_EXCEEDED', async () => {
    const { code, stderr } = await offload(['run', 'spin', '--input', '{"ms":30000}', '--deadline', '300ms']);
    expect(code).toBe(1);
    expect(stderr).toBe(`offload: DEADLINE_EXCEEDED: no result from ${server.address} within 300ms (--deadline)\n`);
    await eventually(() => expect(server.pool.stats.running).toBe(0));
  });

  it('cancels the task on the server and exits 130 on Ctrl-C', async () => {
    const child = spawn(process.execPath, [BIN, 'run', 'spin', '--input', '{"ms":30000,"steps":3000}', '--json'], {
      env: { ...process.env, OFFLOAD_ADDRESS: server.address },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await eventually(() => expect(out).toContain('"type":"progress"'));
    expect(server.pool.stats.running).toBe(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    await eventually(() => expect(server.pool.stats.running).toBe(0));
  });
});

describe('usage errors', () => {
  it('names an unknown flag and the command whose help lists the right ones, exiting 2', async () => {
    expect(await offload(['run', 'spin', '--foo'])).toMatchObject({
      code: 2,
      stderr: 'offload: unknown flag --foo for "offload run"; see offload run --help\n',
    });
    expect(await offload(['health', '--foo'])).toMatchObject({
      code: 2,
      stderr: 'offload: unknown flag --foo for "offload health"; see offload health --help\n',
    });
    expect(await offload(['tasks', '--verbose=1'])).toMatchObject({
      code: 2,
      stderr: 'offload: unknown flag --verbose for "offload tasks"; see offload tasks --help\n',
    });
  });

  it('passes a value that starts with "-" on to validation, and says when a flag lacks its value', async () => {
    expect(await offload(['run', 'spin', '--deadline', '-5s'])).toMatchObject({
      code: 2,
      stderr: 'offload: --deadline must be a duration such as 500ms, 30s or 2m (got "-5s")\n',
    });
    expect(await offload(['run', 'spin', '--deadline'])).toMatchObject({ code: 2, stderr: 'offload: --deadline needs a value\n' });
  });
});

describe('offload health', () => {
  it('prints SERVING and exits 0', async () => {
    expect(await offload(['health'])).toMatchObject({ code: 0, stdout: 'SERVING\n' });
  });

  it('prints one JSON object with --json', async () => {
    expect(await offload(['health', '--json'])).toMatchObject({ code: 0, stdout: '{"status":"SERVING"}\n', stderr: '' });
  });

  it('exits 1 with UNAVAILABLE when nothing listens', async () => {
    const { code, stderr } = await offload(['health', '--address', '127.0.0.1:1']);
    expect(code).toBe(1);
    expect(stderr).toBe('offload: UNAVAILABLE: cannot reach 127.0.0.1:1 (connection refused); is the server running?\n');
  });
});

describe('reaching the server', () => {
  it('says which address refused the connection instead of grpc-js\'s balancer text', async () => {
    expect(await offload(['run', 'echo', '--address', '127.0.0.1:1'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'offload: UNAVAILABLE: cannot reach 127.0.0.1:1 (connection refused); is the server running?\n',
    });
  });

  it('dials port 50051 when --address names a host without a port, and says when the name does not resolve', async () => {
    expect(await offload(['tasks', '--address', 'nosuch.invalid'])).toMatchObject({
      code: 1,
      stderr: 'offload: UNAVAILABLE: cannot reach nosuch.invalid:50051 (the host name does not resolve); is the address right?\n',
    });
  });

  it('says a plaintext server does not speak TLS, without Node\'s IP servername warning or OpenSSL\'s text', async () => {
    expect(await offload(['run', 'echo', '--tls', '--address', server.address])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `offload: UNAVAILABLE: TLS handshake with ${server.address} failed: the server does not speak TLS (drop --tls?)\n`,
    });
  });
});

describe('with a token', () => {
  it('sends --token or OFFLOAD_TOKEN, and reports UNAUTHENTICATED without one', async () => {
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, 'open-sesame\n');
    const guarded = await startServer(['--auth-token-file', tokens]);
    try {
      const env = { OFFLOAD_ADDRESS: guarded.address };
      expect((await offload(['run', 'echo', '--input', '1', '--token', 'open-sesame'], env)).code).toBe(0);
      expect((await offload(['tasks'], { ...env, OFFLOAD_TOKEN: 'open-sesame' })).code).toBe(0);
      const refused = await offload(['run', 'echo', '--input', '1'], env);
      expect(refused).toMatchObject({ code: 1 });
      expect(refused.stderr).toMatch(/^offload: UNAUTHENTICATED/);
    } finally {
      await guarded.close();
    }
  });
});

describe('with a tenant', () => {
  it('sends --tenant or OFFLOAD_TENANT as the call\'s tenant, and refuses a bad name as usage', async () => {
    const log = captureLogger();
    const logged = await createComputeServer(loadConfig(['--port', '0', '--workers', '1'], {}), { logger: log.logger });
    try {
      const env = { OFFLOAD_ADDRESS: logged.address };
      expect((await offload(['run', 'echo', '--input', '1', '--tenant', 'team-a'], env)).code).toBe(0);
      expect((await offload(['submit', 'echo', '--input', '2'], { ...env, OFFLOAD_TENANT: 'team-b' })).code).toBe(0);
      expect((await offload(['tasks'], env)).code).toBe(0);
      const tenants = log.lines.filter((l) => String(l['method']).startsWith('/offload.v1.')).map((l) => [l['method'], l['tenant']]);
      expect(tenants).toEqual([
        ['/offload.v1.ComputeService/RunStream', 'team-a'],
        ['/offload.v1.ComputeService/Submit', 'team-b'],
        ['/offload.v1.ComputeService/ListTasks', 'default'],
      ]);
      expect(await offload(['run', 'echo', '--tenant', 'bad tenant!'], env)).toEqual({
        code: 2,
        stdout: '',
        stderr: 'offload: --tenant must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-" (got "bad tenant!")\n',
      });
    } finally {
      await logged.close();
    }
  });
});
