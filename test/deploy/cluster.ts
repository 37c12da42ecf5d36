/**
 * Replicas of the compiled server as child processes, and nginx (Debian's
 * /usr/sbin/nginx) in front of them running deploy/nginx.conf with loopback
 * ports and a private prefix. For test/deploy/nginx-balancer.test.ts and
 * nginx-jobs.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../helpers/start-server.js';

export const nginxBinary = '/usr/sbin/nginx';
export const deployNginxConf = join(repoRoot, 'deploy/nginx.conf');

export interface Replica {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  /** Everything the process has printed so far. */
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Tasks running on its workers now, from its /metrics. */
  running: () => Promise<number>;
}

/** A free loopback port (the kernel's pick, released at once; the race is harmless here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `node dist/src/main.js --port 0 ...` and resolves once it prints its ready line. */
export async function startReplica(flags: string[] = []): Promise<Replica> {
  const metricsPort = await freePort();
  const child = spawn(process.execPath, ['dist/src/main.js', '--port', '0', '--metrics-port', String(metricsPort), ...flags], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (): void => {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        child.stdout.off('data', onData);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`replica exited with ${code} before it was ready:\n${out}`)));
  });
  return {
    child,
    port,
    metricsPort,
    output: () => out,
    exited,
    async running() {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(/^offload_tasks_running (\d+)/m.exec(text)?.[1] ?? NaN);
    },
  };
}

export interface NginxTestOptions {
  /** The prefix directory: pid, logs and every *_temp_path go there. */
  dir: string;
  /** Loopback port of the plaintext listen line. */
  port: number;
  /** Loopback ports of the replicas, replacing the upstream's server lines. */
  upstreams: number[];
  /** Directives whose value the test changes, e.g. { grpc_read_timeout: '2s' }. */
  overrides?: Record<string, string>;
  /** Uncomments the file's TLS lines, listening on this loopback port with this certificate and key (paths). */
  tls?: { port: number; cert: string; key: string };
}

interface Editor {
  text(): string;
  /** Replaces the one match of `pattern`; throws when there is none or several, so a change of the file's shape fails loudly. */
  replaceOnce(pattern: RegExp, replacement: (...groups: string[]) => string, what: string): void;
  /** Replaces every match of the global `pattern` and says how many there were. */
  replaceEvery(pattern: RegExp, replacement: string): number;
}

function editor(source: string): Editor {
  let conf = source;
  return {
    text: () => conf,
    replaceOnce(pattern, replacement, what) {
      const matches = conf.match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`));
      if (matches?.length !== 1) throw new Error(`deploy/nginx.conf: expected exactly one ${what}, found ${matches?.length ?? 0}`);
      conf = conf.replace(pattern, (_match, ...groups: string[]) => replacement(...groups));
    },
    replaceEvery(pattern, replacement) {
      const count = conf.match(pattern)?.length ?? 0;
      conf = conf.replace(pattern, replacement);
      return count;
    },
  };
}

/**
 * deploy/nginx.conf with every path it writes moved under `dir` (pid, logs,
 * temporary files) and `daemon off;`, and nothing else changed: the shipped
 * upstream and listen lines stay, for `nginx -t`.
 */
export function nginxPrivatePaths(source: string, dir: string): string {
  const conf = editor(source);
  conf.replaceOnce(/^([ \t]*)access_log[ \t]+\S+[ \t]+grpc;/m, (indent) => `${indent}access_log ${dir}/access.log grpc;`, 'access_log ... grpc line');
  conf.replaceOnce(
    /^http \{\n/m,
    () =>
      'http {\n' +
      ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `    ${name}_temp_path ${dir}/${name}_temp;\n`).join(''),
    '"http {" line',
  );
  return `daemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log info;\n\n${conf.text()}`;
}

/**
 * deploy/nginx.conf made runnable by an unprivileged test: the same upstream,
 * timeouts, retries and keepalive, with loopback addresses, `daemon off;` and
 * every path under `dir`. Only addresses, paths and the given overrides
 * change: every other directive and parameter is kept (test/deploy/nginx-conf.test.ts
 * checks that). Throws when the file no longer has the shape this relies on,
 * so the test never silently runs some other configuration.
 */
export function nginxTestConfig(source: string, { dir, port, upstreams, overrides = {}, tls }: NginxTestOptions): string {
  const conf = editor(source);

  // The upstream's server lines: one per test replica, with the parameters they all share.
  conf.replaceOnce(
    /(upstream offload \{[^}]*?)((?:^[ \t]*server[ \t]+\S+[^;\n]*;[ \t]*\n)+)([^}]*\})/m,
    (head, lines, tail) => {
      const servers = lines.trimEnd().split('\n').map((line) => /^([ \t]*)server[ \t]+\S+([^;\n]*);/.exec(line)!);
      if (servers.length < 2) throw new Error('deploy/nginx.conf: the upstream should list several replicas');
      if (/^[ \t]*server[ \t]/m.test(tail)) throw new Error("deploy/nginx.conf: keep the upstream's server lines together, so the test replaces them all");
      const parameters = new Set(servers.map((server) => server[2]));
      if (parameters.size !== 1) throw new Error(`deploy/nginx.conf: the upstream's server lines have different parameters (${[...parameters].join(' |')}); the test gives every replica the same`);
      return head + upstreams.map((p) => `${servers[0]![1]}server 127.0.0.1:${p}${servers[0]![2]};\n`).join('') + tail;
    },
    'upstream offload block with a run of server lines',
  );

  if (tls) {
    // The commented-out TLS lines: `listen ... ssl ...;` and every ssl_* directive.
    const enabled = conf.replaceEvery(/^([ \t]*)#[ \t]*((?:listen[ \t][^;\n]*\bssl\b|ssl_[a-z_]+[ \t])[^;\n]*;)[ \t]*$/gm, '$1$2');
    if (enabled === 0) throw new Error('deploy/nginx.conf: no commented-out TLS lines (listen ... ssl, ssl_*) to enable');
    conf.replaceOnce(/^([ \t]*)ssl_certificate[ \t]+[^;\n]+;/m, (indent) => `${indent}ssl_certificate ${tls.cert};`, 'ssl_certificate directive');
    conf.replaceOnce(/^([ \t]*)ssl_certificate_key[ \t]+[^;\n]+;/m, (indent) => `${indent}ssl_certificate_key ${tls.key};`, 'ssl_certificate_key directive');
  }
  // Each listen line keeps its parameters (http2, ssl, ...); only its address becomes a loopback port.
  conf.replaceOnce(/^([ \t]*)listen[ \t]+\S+((?:[ \t]+(?!ssl\b)[^\s;]+)*);/m, (indent, parameters) => `${indent}listen 127.0.0.1:${port}${parameters};`, 'plaintext listen line');
  if (tls) {
    conf.replaceOnce(/^([ \t]*)listen[ \t]+(?!127\.0\.0\.1:)\S+([^;\n]*\bssl\b[^;\n]*);/m, (indent, parameters) => `${indent}listen 127.0.0.1:${tls.port}${parameters};`, 'listen ... ssl line');
  }
  if (/^[ \t]*listen[ \t]+(?!127\.0\.0\.1:)/m.test(conf.text())) throw new Error('deploy/nginx.conf: a listen line the test does not know how to move to loopback');
  for (const [directive, value] of Object.entries(overrides)) {
    conf.replaceOnce(new RegExp(`^([ \\t]*)${directive}[ \\t]+[^;\\n]+;`, 'm'), (indent) => `${indent}${directive} ${value};`, `${directive} directive`);
  }
  return nginxPrivatePaths(conf.text(), dir);
}

export interface Nginx {
  child: ChildProcess;
  port: number;
  /** Port of the TLS listen line, when the test enabled it. */
  tlsPort?: number;
  dir: string;
  /** The access log so far: one line per call (format `grpc` in deploy/nginx.conf). */
  accessLog: () => string;
  errorLog: () => string;
  stop: () => Promise<void>;
}

export interface StartNginxOptions {
  overrides?: Record<string, string>;
  /** Enables the file's commented-out TLS lines with this certificate and key (paths). */
  tls?: { cert: string; key: string };
}

/** Runs nginx with deploy/nginx.conf in front of `upstreams` and resolves once it accepts connections. */
export async function startNginx(upstreams: number[], { overrides, tls }: StartNginxOptions = {}): Promise<Nginx> {
  if (!existsSync(nginxBinary)) throw new Error(`${nginxBinary} is missing: install it with scripts/ensure-system-deps.sh (Debian package nginx)`);
  const dir = mkdtempSync(join(tmpdir(), 'offload-nginx-'));
  // Worker processes run as nobody when the test runs as root; they must reach the prefix.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  const conf = nginxTestConfig(readFileSync(deployNginxConf, 'utf8'), {
    dir,
    port,
    upstreams,
    overrides,
    tls: tls && tlsPort ? { ...tls, port: tlsPort } : undefined,
  });
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn(nginxBinary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = (file: string) => (): string => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch {
      return '';
    }
  };
  const nginx: Nginx = {
    child,
    port,
    tlsPort,
    dir,
    accessLog: read('access.log'),
    errorLog: read('error.log'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
        child.kill('SIGTERM');
        if ((await Promise.race([exited.then(() => 'exited'), sleep(5000)])) !== 'exited') child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${out}\n${nginx.errorLog()}\n${conf}`);
    if ((await canConnect(port)) && (tlsPort === undefined || (await canConnect(tlsPort)))) return nginx;
    if (attempt > 100) {
      await nginx.stop();
      throw new Error(`nginx did not listen on ${port}:\n${out}\n${nginx.errorLog()}`);
    }
    await sleep(50);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** SIGKILLs every replica still running. */
export async function killAll(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (replica) => {
      if (replica.child.exitCode === null && replica.child.signalCode === null) replica.child.kill('SIGKILL');
      await replica.exited;
    }),
  );
}
