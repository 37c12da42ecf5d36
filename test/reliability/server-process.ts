/**
 * The compiled offload server (dist/, built by vitest's globalSetup) in a
 * child process, measured from the outside the way an operator would: its
 * /metrics, and its /proc entry (resident memory, threads, open file
 * descriptors). The server's log goes to a file under .tmp/reliability/ so a
 * failure can be read afterwards, and a slow reader never blocks the server.
 *
 * The child runs with the image's node flags (deploy/Dockerfile's CMD), and
 * with `--expose-gc` and a one-line preload that runs a full
 * GC on SIGUSR2, so "heap after GC" separates what is retained (a leak) from
 * garbage not yet collected. Nothing else about the server is changed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { imageNodeFlags } from '../deploy/dockerfile.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixtureTasksDir = join(repoRoot, 'test/fixtures/tasks');
export const workDir = join(repoRoot, '.tmp/reliability');

/** Node's flags from the image's CMD: the server under test is sized as it is shipped. */
const NODE_FLAGS = imageNodeFlags(readFileSync(join(repoRoot, 'deploy/Dockerfile'), 'utf8'));
const GC_HOOK = "data:text/javascript,process.on('SIGUSR2',()=>globalThis.gc())";
const MB = 1024 * 1024;

export interface Sample {
  /** Resident set size of the whole process (main thread and every worker), MB. */
  rssMb: number;
  /** The main isolate's used heap (nodejs_heap_size_used_bytes), MB. */
  heapMb: number;
  /** Open file descriptors in /proc/PID/fd, connections included. */
  fds: number;
  /** Of those, established TCP connections to the gRPC port (clients' connections). */
  connections: number;
  /** OS threads (the main thread, libuv and V8 helpers, one per worker). */
  threads: number;
  /** Open descriptors by kind ("pipe", "socket", "anon_inode:[eventfd]", …), so a leak says what leaks. */
  fdKinds: Record<string, number>;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance-style ms timestamp (Date.now()) of the exit. */
  at: number;
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

export class OffloadProcess {
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  #stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
    readonly address: string,
    readonly metricsPort: number,
    /** Workers the server runs, from its ready line. */
    readonly workers: number,
  ) {
    this.exited = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.#exit = { code, signal, at: Date.now() };
        resolve(this.#exit);
      };
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once('exit', onExit);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.#stderr.length < 1e6) this.#stderr += chunk.toString();
    });
  }

  /**
   * Starts `node dist/src/main.js --port 0 --workers 2 --tasks test/fixtures/tasks
   * --metrics-port 0 FLAGS` and waits for its ready line (later flags win).
   */
  static async start(name: string, flags: string[] = []): Promise<OffloadProcess> {
    mkdirSync(workDir, { recursive: true });
    const logFile = join(workDir, `${name}.log`);
    const out = openSync(logFile, 'w');
    const args = [
      ...NODE_FLAGS,
      '--expose-gc',
      // A warning (MaxListenersExceededWarning, say) comes with the stack that caused it.
      '--trace-warnings',
      '--import',
      GC_HOOK,
      'dist/src/main.js',
      '--port', '0',
      '--workers', '2',
      '--tasks', fixtureTasksDir,
      '--metrics-port', '0',
      ...flags,
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', out, 'pipe'] });
    closeSync(out);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`offload exited with ${child.exitCode ?? child.signalCode} before it was ready: ${stderr}`);
      }
      const match = /listening on (\S+:\d+)/.exec(readFileSync(logFile, 'utf8'));
      if (match) {
        const address = match[1]!;
        const grpcPort = Number(address.split(':').at(-1));
        const metricsPort = await findMetricsPort(child.pid!, grpcPort);
        const workers = Number(/with (\d+) workers?/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? NaN);
        const server = new OffloadProcess(child, logFile, address, metricsPort, workers);
        server.#stderr = stderr;
        return server;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`offload did not print its ready line within 60 s; log: ${logFile}`);
      }
      await sleep(50);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Process warnings printed to stderr since `mark` (a length of `stderr`), first line and the frames under it. */
  warningsSince(mark: number): string[] {
    return this.#stderr
      .slice(mark)
      .split(/\n(?=\(node:\d+\))/)
      .filter((block) => /Warning/.test(block))
      .map((block) => {
        const [first = '', ...frames] = block.split('\n');
        // The frames that say who did it: not Node's own.
        return [first, ...frames.filter((frame) => /^\s+at /.test(frame) && !frame.includes('node:internal')).slice(0, 5)].join('\n');
      });
  }

  /** The server's log so far (JSON lines). */
  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  /** Log lines at error or fatal level, parsed. */
  errorLines(): Record<string, unknown>[] {
    return this.log()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => typeof line['level'] === 'number' && line['level'] >= 50);
  }

  /** Every sample of /metrics, as "name{labels}" → value. */
  async metrics(): Promise<Map<string, number>> {
    const text = await scrape(this.metricsPort);
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      const match = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match) values.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
    }
    return values;
  }

  /** A metric summed over its label sets (0 when absent). */
  async metric(name: string, labels?: string): Promise<number> {
    const all = await this.metrics();
    let sum = 0;
    for (const [key, v] of all) {
      const bare = key.split('{')[0];
      if (bare === name && (labels === undefined || key.includes(labels))) sum += v;
    }
    return sum;
  }

  async restarts(): Promise<number> {
    return this.metric('offload_worker_restarts_total');
  }

  /** Workers started and able to take a task, as /metrics reports them. */
  async readyWorkers(): Promise<number> {
    return this.metric('offload_workers_ready');
  }

  /** Queue depth and running tasks as /metrics reports them. */
  async poolGauges(): Promise<{ queued: number; running: number }> {
    const m = await this.metrics();
    return { queued: await this.metric('offload_queue_depth'), running: m.get('offload_tasks_running') ?? NaN };
  }

  /** Runs a full GC in the server's main isolate (workers collect on their own). */
  async gc(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      this.child.kill('SIGUSR2');
      await sleep(150);
    }
  }

  async sample({ gc = false }: { gc?: boolean } = {}): Promise<Sample> {
    if (gc) await this.gc();
    // Counted before scraping /metrics, whose own connection would be one more.
    const fds = this.fds();
    const fdKinds = this.fdKinds();
    const connections = this.connections();
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const field = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    const heapMb = (await this.metric('nodejs_heap_size_used_bytes')) / MB;
    return { rssMb: round(field('VmRSS') / 1024), heapMb: round(heapMb), fds, connections, threads: field('Threads'), fdKinds };
  }

  /** Open file descriptors now. */
  fds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** Open file descriptors now, counted by what they point at without the inode ("pipe", "socket", a path). */
  fdKinds(): Record<string, number> {
    const kinds: Record<string, number> = {};
    const tcp = new Map(tcpSockets(this.pid).map((socket) => [socket.inode, socket]));
    for (const fd of readdirSync(`/proc/${this.pid}/fd`)) {
      let target = 'closed';
      try {
        const link = readlinkSync(`/proc/${this.pid}/fd/${fd}`);
        const socket = tcp.get(/^socket:\[(\d+)\]$/.exec(link)?.[1] ?? '');
        // TCP sockets by state and local port: a connection stuck in CLOSE_WAIT (08) is a leak, a listener (0A) is not.
        target = socket ? `tcp ${socket.state} :${socket.localPort}` : link.replace(/:\[\d+\]$/, '');
      } catch {
        // Closed between listing and reading: not open any more.
      }
      kinds[target] = (kinds[target] ?? 0) + 1;
    }
    return kinds;
  }

  /** Established TCP connections to the gRPC port held by the server now. */
  connections(): number {
    const port = Number(this.address.split(':').at(-1));
    return tcpSockets(this.pid).filter((socket) => socket.state === '01' && socket.localPort === port).length;
  }

  /** Resident memory now, MB, straight from /proc (cheap enough to poll). */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN) / 1024);
  }

  /** Polls RSS every `everyMs` until stopped; reports the peak. */
  watchRss(everyMs = 100): { stop: () => number } {
    let peak = this.alive ? this.rssMb() : 0;
    const timer = setInterval(() => {
      if (this.alive) peak = Math.max(peak, this.rssMb());
    }, everyMs);
    return {
      stop: () => {
        clearInterval(timer);
        return peak;
      },
    };
  }

  /**
   * Waits until the queue is empty, no task runs, every worker is up and
   * ready again (offload_workers_ready), and no thread is left beyond
   * `threads`; throws with the last figures after `timeoutMs`. Fewer threads
   * than before is no fault: on Node 24 a worker that compiled a TypeScript
   * task holds esbuild's sync-API thread, and a replacement that finds the
   * module in tsx's cache never starts one.
   */
  async settle(threads: number, timeoutMs = 15_000): Promise<Sample & { queued: number; running: number; ready: number }> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const gauges = await this.poolGauges();
      const ready = await this.readyWorkers();
      const now = await this.sample();
      const current = { ...now, ...gauges, ready };
      if (gauges.queued === 0 && gauges.running === 0 && ready === this.workers && now.threads <= threads) return current;
      if (Date.now() > until) {
        throw new Error(`the server did not settle within ${timeoutMs} ms: ${JSON.stringify(current)} (threads at baseline: ${threads})`);
      }
      await sleep(100);
    }
  }

  /** SIGTERM and wait for the exit; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<ExitInfo> {
    if (!this.alive) return this.#exit!;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** For afterAll: whatever state the test left, the process goes. */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/** GET /metrics on a connection of its own that closes afterwards, so scraping leaves no socket open. */
function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/metrics', agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('GET /metrics timed out')));
    request.on('error', reject);
  });
}

/** The process's TCP sockets, from /proc/PID/fd and /proc/PID/net/tcp{,6}. */
function tcpSockets(pid: number): { localPort: number; state: string; inode: string }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const sockets: { localPort: number; state: string; inode: string }[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      sockets.push({ localPort: parseInt(cols[1]!.split(':').at(-1)!, 16), state: cols[3]!, inode: cols[9]! });
    }
  }
  return sockets;
}

/** The port of the process's other listening TCP socket (its /metrics). */
async function findMetricsPort(pid: number, grpcPort: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const other = tcpSockets(pid).find((socket) => socket.state === '0A' && socket.localPort !== grpcPort);
    if (other) return other.localPort;
    await sleep(50);
  }
  throw new Error(`could not find the metrics port of process ${pid}`);
}
