/**
 * Proves the contract is usable outside TypeScript: a Python client, built on
 * Debian's grpcio and protoc-generated messages, calls every RPC of a real
 * server. Needs python3-grpcio, python3-protobuf and protobuf-compiler
 * (scripts/ensure-system-deps.sh installs them); without them this test fails.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { protoDir, repoRoot, startServer } from '../helpers/start-server.js';

const run = promisify(execFile);
const python = '/usr/bin/python3';
const script = join(repoRoot, 'test', 'polyglot', 'python_client.py');
const missingDeps = 'install them with scripts/ensure-system-deps.sh (python3-grpcio python3-protobuf protobuf-compiler libprotobuf-dev)';

interface ExecFailure {
  code?: number | string;
  signal?: string | null;
  killed?: boolean;
  stdout?: string;
  stderr?: string;
  message: string;
}

/** Runs a command; on failure, rethrows with its exit status and stderr in the message. */
async function exec(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeout: number }, hint = ''): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd: repoRoot, encoding: 'utf8', ...options });
    return stdout;
  } catch (thrown) {
    const error = thrown as ExecFailure;
    const status = error.killed ? `killed (${error.signal ?? 'timeout'})` : `exit ${String(error.code)}`;
    throw new Error(`${file} ${args.join(' ')} failed: ${status}\n${error.stderr?.trim() || error.message}${hint ? `\n${hint}` : ''}`);
  }
}

describe('a Python gRPC client', () => {
  let server: ComputeServer | undefined;
  let genDir: string | undefined;

  beforeAll(async () => {
    await exec(python, ['-c', 'import grpc, google.protobuf'], { timeout: 30_000 }, `${python} lacks grpcio or protobuf: ${missingDeps}`);
    genDir = await mkdtemp(join(tmpdir(), 'offload-py-'));
    await exec(
      'protoc',
      ['-I', protoDir, '-I', '/usr/include', `--python_out=${genDir}`, join(protoDir, 'offload', 'v1', 'compute.proto')],
      { timeout: 30_000 },
      `protoc or google/protobuf/struct.proto is missing: ${missingDeps}`,
    );
    server = await startServer();
  });

  afterAll(async () => {
    await server?.close();
    if (genDir) await rm(genDir, { recursive: true, force: true });
  });

  it('calls every RPC with protoc-generated messages and sees the contract hold', { timeout: 70_000 }, async () => {
    if (!server || !genDir) throw new Error('beforeAll did not finish');
    const stdout = await exec(python, [script, server.address], { env: { ...process.env, PYTHONPATH: genDir }, timeout: 60_000 });
    const summary = JSON.parse(stdout) as PythonSummary;

    expect(summary.address).toBe(server.address);
    expect(summary.checks.listTasks.tasks).toEqual(expect.arrayContaining(['echo', 'spin', 'primes', 'sha256']));
    expect(summary.checks.runEcho.dataBytes).toBe(256);
    expect(summary.checks.runEcho.output).toMatchObject({ text: 'héllo', n: 42, ok: true, none: null, list: [1, 'two', { three: 3 }] });
    expect(summary.checks.runSpin.output).toEqual({ ms: 50 });
    expect(summary.checks.runSpin.runMs).toBeGreaterThanOrEqual(40);

    const stream = summary.checks.runStream;
    expect(stream.events.at(-1)).toBe('result');
    expect(stream.events.filter((kind) => kind === 'result')).toHaveLength(1);
    expect(stream.fractions.length).toBeGreaterThanOrEqual(1);
    expect(stream.output).toEqual({ ms: 200 });

    const batch = summary.checks.runBatch;
    expect(batch.results).toEqual({ 'echo-1': { x: 1 }, 'primes-1': { count: 25 } });
    expect(batch.failures['unknown-1']?.code).toBe(5);
    expect(batch.failures['invalid-1']).toEqual({ code: 3, message: 'input.ms must be <= 60000' });

    expect(summary.checks.runUnknownTask.code).toBe('NOT_FOUND');
  });
});

/** The JSON summary python_client.py prints on success. */
interface PythonSummary {
  address: string;
  grpcio: string;
  checks: {
    listTasks: { tasks: string[] };
    runEcho: { output: Record<string, unknown>; dataBytes: number };
    runSpin: { output: unknown; runMs: number };
    runStream: { events: string[]; fractions: number[]; output: unknown };
    runBatch: {
      results: Record<string, unknown>;
      failures: Record<string, { code: number; message: string } | undefined>;
    };
    runUnknownTask: { code: string; details: string };
  };
}
