import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createChannel, createClient } from 'nice-grpc';
import { beforeAll, describe, expect, it } from 'vitest';
import { ComputeServiceDefinition } from '../../src/gen/offload/v1/compute.js';
import { repoRoot } from '../helpers/start-server.js';

const exec = promisify(execFile);
const badTasks = join(repoRoot, 'test/fixtures/bad-tasks');

/** Runs the server from source (tsx) until it exits; for start-up failures. */
async function runToExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  try {
    await exec(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 20_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

/** Starts a server process and resolves with it and its address once it prints its ready line. */
function startProcess(command: string[]): Promise<{ child: ChildProcess; address: string; line: string }> {
  const child = spawn(process.execPath, command, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (\S+:\d+)/.exec(out);
      if (match) resolve({ child, address: match[1]!, line: out.split('\n').find((l) => l.includes('listening on'))! });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code} before it was ready: ${err}`)));
  });
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('starting the server', () => {
  it.each([
    [['--workers', '0'], 'offload: --workers must be a positive integer (got "0")'],
    [['--port', 'http'], 'offload: --port must be a non-negative integer (got "http")'],
    [['--tasks', 'no/such/dir'], 'offload: task directory no/such/dir does not exist or is not a directory'],
  ])('refuses %j with exit code 2 and an exact message', async (args, message) => {
    const { code, stderr } = await runToExit(args);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(message);
  });

  it('reads bad configuration from the environment too', async () => {
    const { code, stderr } = await runToExit([], { OFFLOAD_MAX_QUEUE: 'lots' });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('offload: OFFLOAD_MAX_QUEUE must be a non-negative integer (got "lots")');
  });

  it('refuses a task directory whose task reuses a name, naming both files', async () => {
    const { code, stderr } = await runToExit(['--port', '0', '--tasks', join(badTasks, 'duplicate')]);
    expect(code).toBe(2);
    expect(stderr).toContain(join(badTasks, 'duplicate/first.ts'));
    expect(stderr).toContain('task name "echo" is already defined by');
  });

  it('refuses a module that is not a task, naming the file', async () => {
    const { code, stderr } = await runToExit(['--port', '0', '--tasks', join(badTasks, 'invalid')]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`offload: ${join(badTasks, 'invalid/not-a-task.ts')}: task half-a-task: run must be a function`);
  });

  it('refuses a task whose input schema is not valid JSON Schema, naming the file', async () => {
    const { code, stderr } = await runToExit(['--port', '0', '--tasks', join(badTasks, 'bad-schema')]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${join(badTasks, 'bad-schema/bad-schema.ts')}: task bad-schema has an invalid input schema`);
  });
});

describe('the compiled server (what npm start runs)', () => {
  beforeAll(async () => {
    await exec('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot, timeout: 120_000 });
  }, 150_000);

  it('prints its ready line, serves the bundled tasks without a TypeScript loader and exits 0 on SIGTERM', async () => {
    const { child, address, line } = await startProcess(['dist/src/main.js', '--port', '0', '--workers', '2']);
    try {
      expect(line).toMatch(/listening on 127\.0\.0\.1:\d+ with 2 workers; tasks: echo, primes, sha256, spin/);
      const channel = createChannel(address);
      const client = createClient(ComputeServiceDefinition, channel);
      const { result } = await client.run({ task: 'primes', input: { limit: 1000 } });
      expect(result?.output).toEqual({ count: 168 });
      channel.close();
    } finally {
      const exited = exitCode(child);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
