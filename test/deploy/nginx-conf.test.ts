/**
 * deploy/nginx.conf itself: nginx accepts it as shipped, and the test
 * harness (cluster.ts) changes nothing in it but addresses and paths, so the
 * behaviour test/deploy/nginx-balancer.test.ts measures is the shipped file's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deployNginxConf, nginxBinary, nginxPrivatePaths, nginxTestConfig } from './cluster.js';

const source = readFileSync(deployNginxConf, 'utf8');
const harness = { dir: '/prefix', port: 1001, upstreams: [2001, 2002, 2003] };

/**
 * Every directive as "enclosing blocks > name arguments", in order; comments
 * dropped. Enough of nginx's syntax for this file: words, quoted strings, ; { }.
 */
function directives(conf: string): string[] {
  const found: string[] = [];
  const blocks: string[] = [];
  let words: string[] = [];
  for (const [token] of conf.matchAll(/#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{};]|[^\s{};"'#]+/g)) {
    if (token.startsWith('#')) continue;
    if (token === ';' || token === '{') found.push([...blocks, words.join(' ')].join(' > '));
    if (token === '{') blocks.push(words.join(' '));
    if (token === '}') blocks.pop();
    if (token === ';' || token === '{' || token === '}') words = [];
    else words.push(token);
  }
  return found;
}

/** The directives with the addresses and paths the harness swaps replaced by placeholders. */
function normalized(conf: string): string[] {
  return directives(conf).map((directive) =>
    directive
      .replace(/^(http > upstream offload > server) \S+/, '$1 ADDRESS')
      .replace(/^(http > server > listen) \S+/, '$1 ADDRESS')
      .replace(/^(http > access_log) \S+/, '$1 PATH')
      .replace(/^(http > server > ssl_certificate(?:_key)?) \S+$/, '$1 PATH'),
  );
}

/** What the harness adds to make nginx run unprivileged: daemon off, and pid, logs and temporary files under its prefix. */
function isPrivatePath(directive: string): boolean {
  return /^(daemon off|pid \/prefix\/\S+|error_log \/prefix\/\S+ info|http > [a-z_]+_temp_path \/prefix\/\S+)$/.test(directive);
}

/** `nginx -t` on `conf` (with its paths moved to a private prefix); its stderr. */
async function nginxTest(conf: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'offload-nginx-t-'));
  try {
    writeFileSync(join(dir, 'nginx.conf'), nginxPrivatePaths(conf, dir));
    const { stderr } = await promisify(execFile)(nginxBinary, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
    return stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The directives of the upstream block, in order, without the "http > upstream offload > " prefix. */
function upstreamDirectives(conf: string): string[] {
  const prefix = 'http > upstream offload > ';
  return directives(conf).flatMap((d) => (d.startsWith(prefix) ? [d.slice(prefix.length)] : []));
}

describe('deploy/nginx.conf', () => {
  it('passes nginx -t as shipped, without a warning, with only its pid, log and temporary paths moved to a private prefix', async () => {
    const stderr = await nginxTest(source);
    expect(stderr).toContain('test is successful');
    expect(stderr).not.toContain('[warn]');
  });

  it('routes by a consistent hash of the offload-job-id header, declared before keepalive so that upstream connections are still cached', () => {
    const upstream = upstreamDirectives(source);
    const hash = upstream.indexOf('hash $http_offload_job_id consistent');
    expect(hash).toBeGreaterThanOrEqual(0);
    expect(hash).toBeLessThan(upstream.findIndex((d) => d.startsWith('keepalive ')));
  });

  it('makes nginx -t warn "load balancing method redefined" when the hash is moved after keepalive', async () => {
    const hashLine = /^[ \t]*hash \$http_offload_job_id consistent;\n/m;
    const moved = source.replace(hashLine, '').replace(/^([ \t]*)(keepalive_requests[^;\n]*;)$/m, '$1$2\n$1hash $http_offload_job_id consistent;');
    expect(upstreamDirectives(moved).slice(-2)).toEqual(['keepalive_requests 10000', 'hash $http_offload_job_id consistent']);
    expect(await nginxTest(moved)).toMatch(/\[warn\] load balancing method redefined/);
  });

  it('keeps its upstream servers and listen line as shipped when only its paths are moved', () => {
    const kept = directives(nginxPrivatePaths(source, '/prefix')).filter((d) => !isPrivatePath(d));
    expect(kept.map((d) => d.replace(/^(http > access_log) \S+/, '$1 PATH'))).toEqual(directives(source).map((d) => d.replace(/^(http > access_log) \S+/, '$1 PATH')));
  });
});

describe("the test harness's copy of deploy/nginx.conf", () => {
  it('keeps every directive and parameter of the file, changing only addresses and paths', () => {
    const test = nginxTestConfig(source, harness);
    expect(normalized(test).filter((d) => !isPrivatePath(d))).toEqual(normalized(source));
    expect(directives(test).filter((d) => /> (server|listen) [^>]*$/.test(d))).toEqual([
      'http > upstream offload > server 127.0.0.1:2001 max_fails=1 fail_timeout=10s',
      'http > upstream offload > server 127.0.0.1:2002 max_fails=1 fail_timeout=10s',
      'http > upstream offload > server 127.0.0.1:2003 max_fails=1 fail_timeout=10s',
      'http > server > listen 127.0.0.1:1001 http2',
    ]);
  });

  it('with TLS enabled, adds only the commented-out TLS lines to the server block, with the test certificate', () => {
    const tls = { port: 1002, cert: '/certs/server.crt', key: '/certs/server.key' };
    const withTls = directives(nginxTestConfig(source, { ...harness, tls }));
    const isTls = (directive: string): boolean => /^http > server > (listen \S+ .*\bssl\b|ssl_)/.test(directive);
    expect(normalized(nginxTestConfig(source, { ...harness, tls })).filter((d) => !isTls(d))).toEqual(normalized(nginxTestConfig(source, harness)));
    expect(withTls.filter(isTls)).toEqual([
      'http > server > listen 127.0.0.1:1002 ssl http2',
      'http > server > ssl_certificate /certs/server.crt',
      'http > server > ssl_certificate_key /certs/server.key',
      'http > server > ssl_protocols TLSv1.2 TLSv1.3',
      'http > server > ssl_session_cache shared:offload_tls:10m',
    ]);
  });

  it('refuses a file whose upstream servers differ in their parameters, rather than give every test replica the first one', () => {
    const varied = source.replace(/(server 127\.0\.0\.1:50054 [^;]*);/, '$1 backup;');
    expect(varied).not.toBe(source);
    expect(() => nginxTestConfig(varied, harness)).toThrow(/different parameters/);
  });

  it('refuses a file with a TLS listen line when the test supplies no certificate', () => {
    const enabled = source.replace(/# (listen \S+ ssl http2;)/, '$1');
    expect(enabled).not.toBe(source);
    expect(() => nginxTestConfig(enabled, harness)).toThrow(/listen line the test does not know/);
  });
});
