/**
 * Starts every server the benchmark compares as a child process on loopback,
 * waits until it listens, and stops it. Each child leads its own process
 * group, so stopping it also stops what it started (Python's pool workers);
 * whatever is still alive when the harness exits is killed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { CeilingMessage, CeilingRequest } from '../peers/ceiling/main.js';
import type { ScenarioName, ScenarioParams, ScenarioResult } from './scenarios.js';
import { inspectorGc } from './inspector-gc.js';
import { benchDir, distMain, repoRoot } from './paths.js';
import { withTimeout } from './stats.js';

export const SERVER_NAMES = ['offload', 'inline', 'plain', 'python-seed', 'ceiling'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export interface ServerHandle {
  name: ServerName;
  pid: number;
  /** host:port; undefined for the ceiling, which speaks no gRPC. */
  address: string | undefined;
  /** offload only: its Prometheus endpoint (started with --metrics-port), where its main-thread heap is read. */
  metricsUrl?: string;
  /** offload only: a full garbage collection in it, through its inspector (opened on first use). */
  collectGarbage?: () => Promise<void>;
  logFile: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** The ceiling only: runs a scenario inside it. */
  runScenario?(scenario: ScenarioName, params: ScenarioParams, cores: number, workers: number, timeoutMs: number): Promise<ScenarioResult>;
  stop(): Promise<void>;
}

export interface ServerSetup {
  /** Directory for logs and generated files. */
  workDir: string;
  /** protoc's --python_out for the contract. */
  pythonGenDir: string;
  /** JSON catalogue of the bundled tasks, for the Python peer. */
  catalogFile: string;
  workers: number;
  /** Flags offload gets after --port 0 --workers N. */
  offloadFlags: string[];
  /** Flags for node itself, before offload's entry (V8 heap sizing, say). */
  offloadNodeFlags: string[];
  /** Environment offload gets on top of the harness's (undefined removes a variable): the tracing scenario's OTEL_*. */
  offloadEnv?: Readonly<Record<string, string | undefined>>;
  startTimeoutMs: number;
}

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Kills every child server still running (synchronous: safe in an 'exit' handler). */
export function killAllServers(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
}

const tsxLoader = import.meta.resolve('tsx');

/** A port nobody listens on right now (for a server that will not say where it listens). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** offload prints its `listening on` line at info level; quieter flags hide it. */
function offloadIsQuiet(flags: readonly string[]): boolean {
  // Read as offload reads them: the last --log-level wins.
  const level = parseArgs({ args: [...flags], options: { 'log-level': { type: 'string' } }, strict: false, allowPositionals: true }).values['log-level'];
  return level !== undefined && !['info', 'debug', 'trace'].includes(String(level));
}

/**
 * What the harness adds to offload's command after `--workers`, as results record it: offload also serves
 * its Prometheus metrics (0: any free port, named in its log; a quiet offload is given a free port), which
 * it collects whether or not they are served: the endpoint adds an idle listener, and work only when scraped.
 */
export const OFFLOAD_HARNESS_FLAGS: readonly string[] = ['--metrics-port', '0'];

/**
 * What the harness gives node itself before offload's entry: the port its inspector would take if it were
 * opened (a free one). Nothing is opened at start; the streams scenario opens it with SIGUSR1 to collect
 * garbage before reading the heap (inspector-gc.ts).
 */
export const OFFLOAD_HARNESS_NODE_FLAGS: readonly string[] = ['--inspect-port=127.0.0.1:0'];

/** `env` with `overrides` on top; an override set to undefined removes the variable. */
function withOverrides(env: NodeJS.ProcessEnv, overrides: ServerSetup['offloadEnv']): NodeJS.ProcessEnv {
  const merged = { ...env };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** `metricsPort`: OFFLOAD_HARNESS_FLAGS' port. */
function command(name: ServerName, setup: ServerSetup, port: number, metricsPort: number): { file: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv } {
  const env = { ...process.env };
  switch (name) {
    case 'offload':
      return {
        file: process.execPath,
        args: [...OFFLOAD_HARNESS_NODE_FLAGS, ...setup.offloadNodeFlags, distMain(), '--port', String(port), '--workers', String(setup.workers), '--metrics-port', String(metricsPort), ...setup.offloadFlags],
        cwd: repoRoot,
        env: withOverrides(env, setup.offloadEnv),
      };
    case 'inline':
      return { file: process.execPath, args: ['--import', tsxLoader, join(benchDir, 'peers/inline/server.ts'), '--port', '0'], cwd: repoRoot, env };
    case 'plain':
      return { file: process.execPath, args: ['--import', tsxLoader, join(benchDir, 'peers/plain/server.ts'), '--port', '0', '--workers', String(setup.workers)], cwd: repoRoot, env };
    case 'python-seed':
      return {
        file: '/usr/bin/python3',
        args: [join(benchDir, 'peers/python-seed/server.py'), '--port', '0', '--workers', String(setup.workers), '--catalog', setup.catalogFile],
        cwd: join(benchDir, 'peers/python-seed'),
        env: { ...env, PYTHONPATH: setup.pythonGenDir, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      };
    case 'ceiling':
      return { file: process.execPath, args: ['--import', tsxLoader, join(benchDir, 'peers/ceiling/main.ts'), '--workers', String(setup.workers)], cwd: repoRoot, env };
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `logName` tells apart two servers of the same kind in one run (the cache scenario's offload pair). */
export async function startServer(name: ServerName, setup: ServerSetup, runIndex: number, logName: string = name): Promise<ServerHandle> {
  // A quiet offload gets a port chosen here and is ready once it accepts connections.
  const quiet = name === 'offload' && offloadIsQuiet(setup.offloadFlags);
  const fixedPort = quiet ? await freePort() : 0;
  const metricsPort = quiet ? await freePort() : 0;
  const { file, args, cwd, env } = command(name, setup, fixedPort, metricsPort);
  const logFile = join(setup.workDir, `${logName}.run${runIndex + 1}.log`);
  // Logs go to a file, not a pipe: the harness (the load generator) never spends CPU reading them,
  // and a chatty server can never block on a full pipe.
  const fd = openSync(logFile, 'w');
  const child = spawn(file, args, { cwd, env, detached: true, stdio: name === 'ceiling' ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; live.delete(child); resolve(); }));
  const failedToStart = (why: string): Error => new Error(`${logName} did not start: ${why}\n--- ${logFile} ---\n${tail(logFile)}`);

  const stop = async (): Promise<void> => {
    if (exited) return;
    killGroup(child, 'SIGTERM');
    const stopped = await Promise.race([exitedPromise.then(() => true), sleep(3000, false)]);
    if (!stopped) killGroup(child, 'SIGKILL');
    // The group may still hold children (pool workers) after the leader exited.
    killGroup(child, 'SIGKILL');
    live.delete(child);
  };

  try {
    let address: string | undefined;
    if (name === 'ceiling') {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          child.on('message', (m: CeilingMessage) => { if (m.type === 'ready') resolve(); });
          void exitedPromise.then(() => reject(failedToStart('it exited')));
        }),
        setup.startTimeoutMs,
        `${name} start`,
      );
    } else {
      address = await withTimeout(
        new Promise<string>((resolve, reject) => {
          let probing = false;
          const timer = setInterval(() => {
            if (fixedPort) {
              if (probing) return;
              probing = true;
              void canConnect(fixedPort).then((ok) => {
                probing = false;
                if (ok) {
                  clearInterval(timer);
                  resolve(`127.0.0.1:${fixedPort}`);
                }
              });
              return;
            }
            const match = /listening on ([\d.]+:\d+)/.exec(tail(logFile, 50));
            if (match) {
              clearInterval(timer);
              resolve(match[1]!);
            }
          }, 25);
          void exitedPromise.then(() => {
            clearInterval(timer);
            reject(failedToStart('it exited'));
          });
        }),
        setup.startTimeoutMs,
        `${name} start`,
      );
    }
    // A quiet offload names no port: its metrics are where it was told to serve them.
    const metricsUrl =
      name !== 'offload' ? undefined : quiet ? `http://127.0.0.1:${metricsPort}/metrics` : /metrics on (http:\/\/[^\s"]+\/metrics)/.exec(tail(logFile, 50))?.[1];
    return {
      name,
      pid: child.pid!,
      address,
      metricsUrl,
      ...(name === 'offload' ? { collectGarbage: inspectorGc(child.pid!, logFile) } : {}),
      logFile,
      alive: () => !exited,
      stop,
      ...(name === 'ceiling' ? { runScenario: ceilingRunner(child, exitedPromise) } : {}),
    };
  } catch (error) {
    await stop();
    throw error instanceof Error && error.message.includes('did not start') ? error : failedToStart(error instanceof Error ? error.message : String(error));
  }
}

function ceilingRunner(child: ChildProcess, exited: Promise<void>): NonNullable<ServerHandle['runScenario']> {
  let nextId = 1;
  return (scenario, params, cores, workers, timeoutMs) => {
    const id = nextId++;
    const request: CeilingRequest = { id, scenario, params, cores, workers };
    return withTimeout(
      new Promise<ScenarioResult>((resolve, reject) => {
        const onMessage = (m: CeilingMessage): void => {
          if (m.type === 'ready' || m.id !== id) return;
          child.off('message', onMessage);
          if (m.type === 'result') resolve(m.result);
          else reject(new Error(`ceiling: ${m.message}`));
        };
        child.on('message', onMessage);
        void exited.then(() => reject(new Error('ceiling exited')));
        child.send(request);
      }),
      timeoutMs,
      `ceiling ${scenario}`,
    );
  };
}
