import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createChannel, createClient, Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { ComputeServiceDefinition, type RunStreamResponse } from '../../src/gen/offload/v1/compute.js';
import { repoRoot } from '../helpers/start-server.js';
import { eventually } from '../helpers/eventually.js';

const exec = promisify(execFile);
const badTasks = join(repoRoot, 'test/fixtures/bad-tasks');

/** Runs the server from source (tsx) until it exits; for start-up failures. */
async function runToExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** Holds a loopback port, as another process would, until the returned close is called. */
async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const holder = createNetServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { port: (holder.address() as AddressInfo).port, close: () => new Promise((resolve) => holder.close(() => resolve())) };
}

interface ServerProcess {
  child: ChildProcess;
  address: string;
  line: string;
  /** Everything the process has printed to stdout so far. */
  output: () => string;
}

/** Starts a server process and resolves once it prints its ready line. */
function startProcess(command: string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, command, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (\S+:\d+)/.exec(out);
      if (match) resolve({ child, address: match[1]!, line: out.split('\n').find((l) => l.includes('listening on'))!, output: () => out });
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
    // proto/ holds only .proto files and a subdirectory: nothing to serve.
    [['--tasks', 'proto'], 'offload: task directory proto holds no task modules (.js, .mjs, .ts or .mts files directly inside it)'],
    [['--max-queue', '-1'], 'offload: --max-queue must be a non-negative integer (got "-1")'],
    [['--max-queue'], 'offload: --max-queue needs a value'],
    [['--foo'], 'offload: unknown flag --foo; see offload serve --help'],
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

  it('exits 1 with one line naming the address when the port is taken, and routes grpc-js\'s own log line to the debug log', async () => {
    const held = await holdPort();
    try {
      const { code, stdout, stderr } = await runToExit(['--port', String(held.port), '--workers', '1', '--log-level', 'debug']);
      expect(code).toBe(1);
      expect(stderr).toBe(`offload: cannot listen on 127.0.0.1:${held.port}: the address is already in use (--port)\n`);
      expect(stdout).toMatch(/"level":20,.*"component":"grpc-js".*"msg":"No address added out of total 1 resolved"/);
    } finally {
      await held.close();
    }
  });

  it('exits 1, rather than running on without metrics, when the metrics port is taken', async () => {
    const held = await holdPort();
    try {
      const { code, stderr } = await runToExit(['--port', '0', '--workers', '1', '--metrics-port', String(held.port)]);
      expect(code).toBe(1);
      expect(stderr).toBe(`offload: cannot listen on 127.0.0.1:${held.port}: the address is already in use (--metrics-port)\n`);
    } finally {
      await held.close();
    }
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

// dist/ is built once for the whole run by test/global-setup.ts.
describe('the compiled server (what npm start runs)', () => {
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

  it('on SIGTERM lets a stream in flight finish, refuses new calls with UNAVAILABLE and exits 0', async () => {
    const server = await startProcess(['dist/src/main.js', '--port', '0', '--workers', '2', '--shutdown-grace-ms', '10000']);
    const channel = createChannel(server.address);
    const client = createClient(ComputeServiceDefinition, channel);
    try {
      const events: RunStreamResponse[] = [];
      const stream = (async () => {
        for await (const event of client.runStream({ task: 'spin', input: { ms: 1500, steps: 15 } })) events.push(event);
      })();
      await eventually(() => expect(events.some((e) => e.progress)).toBe(true));
      const exited = exitCode(server.child);
      server.child.kill('SIGTERM');
      await eventually(() => expect(server.output()).toContain('shutdown: health is NOT_SERVING'));
      await expect(client.run({ task: 'echo', input: 1 })).rejects.toMatchObject({ code: Status.UNAVAILABLE });
      await stream;
      expect(events.at(-1)?.result?.output).toEqual({ ms: 1500 });
      expect(await exited).toBe(0);
      for (const phase of ['not-serving', 'draining', 'closing', 'stopped']) expect(server.output()).toContain(`"phase":"${phase}"`);
    } finally {
      channel.close();
      server.child.kill('SIGKILL');
    }
  });

  it('says "1 worker" for one, and where --metrics-port 0 put the metrics and the dashboard', async () => {
    const server = await startProcess(['dist/src/main.js', '--port', '0', '--workers', '1', '--metrics-port', '0']);
    try {
      await eventually(() => expect(server.output()).toMatch(/listening on .*\n/));
      const logged = JSON.parse(server.output().split('\n').find((l) => l.includes('listening on'))!) as { metricsPort: number; msg: string };
      expect(logged.metricsPort).toBeGreaterThan(0);
      expect(logged.msg).toMatch(/ with 1 worker; tasks: .*; metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics, dashboard on http:\/\/127\.0\.0\.1:\1\/$/);
      expect(logged.msg).toContain(`http://127.0.0.1:${logged.metricsPort}/metrics`);
      const response = await fetch(`http://127.0.0.1:${logged.metricsPort}/metrics`);
      expect(await response.text()).toContain('offload_queue_depth');
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('loads a user\'s TypeScript task from a directory outside any package', async () => {
    // No package.json around it: tsx treats the file as CommonJS, as it would in a user's repository.
    const dir = await mkdtemp(join(tmpdir(), 'offload-user-tasks-'));
    await writeFile(
      join(dir, 'double.ts'),
      "export default { name: 'double', description: 'Doubles n.', input: { type: 'object', properties: { n: { type: 'number' } } }, run: ({ n }: { n: number }) => ({ n: n * 2 }) };\n",
    );
    const server = await startProcess(['dist/src/main.js', '--port', '0', '--workers', '1', '--tasks', dir]);
    const channel = createChannel(server.address);
    try {
      const { result } = await createClient(ComputeServiceDefinition, channel).run({ task: 'double', input: { n: 21 } });
      expect(result?.output).toEqual({ n: 42 });
    } finally {
      channel.close();
      server.child.kill('SIGKILL');
    }
  });

  it('exits at once on a second signal', async () => {
    const server = await startProcess(['dist/src/main.js', '--port', '0', '--workers', '1', '--shutdown-grace-ms', '60000']);
    const channel = createChannel(server.address);
    const client = createClient(ComputeServiceDefinition, channel);
    let progressed = false;
    const call = (async () => {
      for await (const event of client.runStream({ task: 'spin', input: { ms: 30000, steps: 3000 } })) if (event.progress) progressed = true;
    })().catch((error: unknown) => error);
    await eventually(() => expect(progressed).toBe(true));
    const exited = exitCode(server.child);
    server.child.kill('SIGTERM');
    await eventually(() => expect(server.output()).toContain('"phase":"draining"'));
    server.child.kill('SIGTERM');
    expect(await exited).toBe(1);
    await call;
    channel.close();
  });
});
