/**
 * The deployment files under deploy/ keep the properties their comments
 * promise. No Docker engine or cluster is needed: the Dockerfile and the
 * manifests are read as text (the Kubernetes YAML with the `yaml` package,
 * which refuses any YAML error, and typed with `kubernetes-types`),
 * cross-checked against offload's own configuration, and the image's health
 * probe runs against a real server.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { taskProjectFiles } from '../../src/cli/task-project.js';
import { FLAGS, loadConfig } from '../../src/config.js';
import { defaultWorkerHeapMb } from '../../src/memory-limit.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { connect } from '../helpers/client.js';
import { repoRoot, startServer } from '../helpers/start-server.js';
import { freePort } from './cluster.js';
import { dockerStages } from './dockerfile.js';

const exec = promisify(execFile);
const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');
const defaults = loadConfig([], {});

// ---- Dockerfile -------------------------------------------------------------

/** The files offload reads at run time relative to its package root: every packageFile('...') in src/. */
function runtimePackageFiles(): string[] {
  const files = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts')) for (const m of read(path).matchAll(/packageFile\('([^']+)'\)/g)) files.add(m[1]!);
    }
  };
  walk('src');
  // Plain JavaScript under workers/ is shipped as is (tsc compiles only .ts).
  for (const name of readdirSync(join(repoRoot, 'workers'))) if (name.endsWith('.mjs')) files.add(`workers/${name}`);
  return [...files].sort();
}

describe('deploy/Dockerfile', () => {
  const stages = dockerStages(read('deploy/Dockerfile'));
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const runs = (stage: typeof build): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const copies = (stage: typeof build): string[] => stage.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);

  it('builds in one stage and runs from a separate, slim stage, both on the newest Node major that engines lists and CI tests', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBeTruthy();
    expect(runs(build).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(runs(build).some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const majors = [...engines.matchAll(/\^(\d+)/g)].map((m) => Number(m[1]));
    const newest = Math.max(...majors);
    expect(newest).toBe(24);
    expect(runtime.from).toMatch(new RegExp(`^node:${newest}(\\.\\d+)*-bookworm-slim$`));
    // Built and run on one major: the lockfile's optional native packages are chosen at build time.
    expect(build.from).toBe(runtime.from);
    // CI runs the whole suite on that major too.
    expect(read('.ci/run')).toContain(`test:node${newest}`);
    expect((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts[`test:node${newest}`]).toBe(`bash scripts/with-node.sh ${newest} bash scripts/test.sh`);
  });

  it('installs only production dependencies in the runtime stage and copies no node_modules from the build', () => {
    const installs = runs(runtime).filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) expect(install).toContain('--omit=dev');
    expect(copies(runtime).filter((c) => c.includes('node_modules'))).toEqual([]);
    // The runtime needs none of the dev tools: typescript must not be a production dependency.
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).not.toContain('typescript');
  });

  it('copies the compiled server and every file offload reads at run time relative to its package root', () => {
    expect(copies(runtime)).toContainEqual(expect.stringMatching(new RegExp(`^--from=${build.name} /app/dist \\./dist$`)));
    const files = runtimePackageFiles();
    expect(files).toEqual(expect.arrayContaining(['src/gen/descriptor-set.binpb', 'workers/boot.mjs', 'workers/offload-specifiers.mjs']));
    // COPY [--from=…] SOURCES… DEST: the file itself, or a directory holding it, to the same path under /app.
    const copied = (file: string): boolean =>
      copies(runtime).some((args) => {
        const parts = args.split(/\s+/).filter((part) => !part.startsWith('--'));
        const dest = parts.pop();
        return parts.some((source) => (source === file || file.startsWith(`${source}/`)) && (dest === `./${source}` || (dest === './' && !source.includes('/'))));
      });
    expect(files.filter((file) => !copied(file))).toEqual([]);
  });

  it('runs as a non-root user', () => {
    const users = runtime.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    const index = (keyword: string) => runtime.instructions.findIndex((i) => i.keyword === keyword);
    expect(index('USER')).toBeLessThan(index('CMD'));
  });

  it('exposes the gRPC port, checks gRPC health with a probe it ships, and starts the compiled server on all interfaces', () => {
    const exposed = runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toContain(FLAGS.port.default);
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/CMD \["node", "deploy\/healthcheck\.mjs"\]$/);
    expect(copies(runtime)).toContain('deploy/healthcheck.mjs ./deploy/healthcheck.mjs');
    const cmd = runtime.instructions.filter((i) => i.keyword === 'CMD').at(-1);
    expect(JSON.parse(cmd!.args)).toEqual(['node', '--max-semi-space-size=16', 'dist/src/main.js', '--host', '0.0.0.0']);
  });
});

// ---- deploy/healthcheck.mjs ---------------------------------------------------

describe('deploy/healthcheck.mjs (the image HEALTHCHECK)', () => {
  let server: ComputeServer;
  beforeAll(async () => void (server = await startServer(['--workers', '1'])));
  afterAll(async () => server?.close());

  const probe = async (...args: string[]): Promise<{ code: number; stdout: string }> => {
    try {
      const { stdout } = await exec(process.execPath, ['deploy/healthcheck.mjs', ...args], { cwd: repoRoot, timeout: 15_000 });
      return { code: 0, stdout };
    } catch (error) {
      const failure = error as { code: number; stdout: string };
      return { code: failure.code, stdout: failure.stdout };
    }
  };

  it('imports only runtime dependencies, which `npm ci --omit=dev` installs', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const imports = [...read('deploy/healthcheck.mjs').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]!);
    expect(imports.length).toBeGreaterThan(0);
    for (const specifier of imports.filter((s) => !s.startsWith('node:'))) expect(Object.keys(pkg.dependencies)).toContain(specifier);
  });

  it('exits 0 when offload is SERVING, reading the port from OFFLOAD_PORT', async () => {
    const { stdout } = await exec(process.execPath, ['deploy/healthcheck.mjs'], {
      cwd: repoRoot,
      env: { ...process.env, OFFLOAD_PORT: String(server.port) },
      timeout: 15_000,
    });
    expect(stdout.trim()).toBe(`127.0.0.1:${server.port}: SERVING`);
  });

  it('exits 1 when nothing listens', async () => {
    expect((await probe(`127.0.0.1:${await freePort()}`)).code).toBe(1);
  });

  it('exits 1 while offload drains after SIGTERM (health NOT_SERVING)', async () => {
    const draining = await startServer(['--workers', '1']);
    const { client, close } = connect(draining.address);
    try {
      const stream = (async () => {
        for await (const event of client.runStream({ task: 'spin', input: { ms: 3000, steps: 30 } })) if (event.result) return event;
      })();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const stopped = draining.shutdown();
      expect(await probe(draining.address)).toEqual({ code: 1, stdout: `${draining.address}: NOT_SERVING\n` });
      await stream;
      await stopped;
    } finally {
      close();
      await draining.close();
    }
  });
});

// ---- deploy/kubernetes.yaml ---------------------------------------------------

type Manifest = Deployment | Service | PodDisruptionBudget;

/** Every document of a multi-document YAML file, refusing any YAML error or warning. */
function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).map((document) => {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) throw new Error(`deploy/kubernetes.yaml: ${problems.map((p) => p.message).join('; ')}`);
    return document.toJS() as Manifest;
  });
}

/** A value the manifest must set: the tests below fail on its absence rather than on undefined. */
function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`deploy/kubernetes.yaml sets no ${what}`);
  return value;
}

/** A Kubernetes memory quantity (`512Mi`, `1Gi`, `1G`, bytes) in bytes. */
function quantityBytes(quantity: string | number): number {
  const [, amount, unit] = /^(\d+)([KMGT]i?)?$/.exec(String(quantity)) ?? [];
  if (amount === undefined) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(amount) * (unit ? units[unit]! : 1);
}

describe('deploy/kubernetes.yaml', () => {
  const source = read('deploy/kubernetes.yaml');
  const manifests = parseManifests(source);
  const deployments = manifests.filter((m): m is Deployment => m.kind === 'Deployment');
  const services = manifests.filter((m): m is Service => m.kind === 'Service');
  const deployment = required(deployments[0], 'Deployment');
  const pod = required(deployment.spec?.template.spec, 'pod spec');
  const container = required(pod.containers[0], 'container');
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, required(e.value, `value for ${e.name}`)]));
  // What offload itself makes of the container's settings (throws on any bad value).
  const offload = () => loadConfig(['--host', '0.0.0.0'], env);

  it('holds a Deployment, two Services and a PodDisruptionBudget of the API versions Kubernetes serves', () => {
    expect(manifests.map((m) => `${m.apiVersion} ${m.kind}`)).toEqual(['apps/v1 Deployment', 'v1 Service', 'v1 Service', 'policy/v1 PodDisruptionBudget']);
  });

  it('runs three replicas of a Deployment whose OFFLOAD_* settings are all valid offload configuration', () => {
    expect(deployments).toHaveLength(1);
    expect(deployment.spec?.replicas).toBe(3);
    for (const name of Object.keys(env)) expect(Object.values(FLAGS).map((f) => f.env)).toContain(name);
    expect(offload).not.toThrow();
    expect(offload().port).toBe(50051);
    expect(container.ports?.map((p) => p.containerPort)).toContain(offload().port);
  });

  it('probes readiness and liveness with Kubernetes native gRPC probes (grpc.health.v1) on the served port', () => {
    for (const probe of [required(container.readinessProbe, 'readinessProbe'), required(container.livenessProbe, 'livenessProbe')]) {
      expect([probe.httpGet, probe.tcpSocket, probe.exec]).toEqual([undefined, undefined, undefined]);
      expect(required(probe.grpc, 'grpc probe').port).toBe(offload().port);
      expect(['', 'offload.v1.ComputeService', undefined]).toContain(probe.grpc?.service);
    }
  });

  it('gives the pod more time to stop than preStop pause plus the shutdown grace', () => {
    const preStop = required(container.lifecycle?.preStop?.exec?.command, 'preStop command');
    expect(preStop[0]).toBe('sleep');
    const pauseSeconds = Number(preStop[1]);
    expect(pauseSeconds).toBeGreaterThan(0);
    expect(required(pod.terminationGracePeriodSeconds, 'terminationGracePeriodSeconds')).toBeGreaterThan(pauseSeconds + offload().shutdownGraceMs / 1000);
  });

  it('never lets the liveness probe restart a pod in the middle of its drain (health is NOT_SERVING then)', () => {
    const liveness = required(container.livenessProbe, 'livenessProbe');
    // Kubernetes' defaults: every 10 s, 3 failures.
    const secondsToRestart = (liveness.periodSeconds ?? 10) * (liveness.failureThreshold ?? 3);
    expect(secondsToRestart).toBeGreaterThan(required(pod.terminationGracePeriodSeconds, 'terminationGracePeriodSeconds'));
  });

  it("runs the image that offload init's Dockerfile builds, with that image's task directory", () => {
    const { version } = JSON.parse(read('package.json')) as { version: string };
    const tools = { typescript: '', tsx: '', typesNode: '' };
    const dockerfile = taskProjectFiles({ name: 'my-tasks', offloadSpec: '', version, tools })['Dockerfile']!;
    const tag = /docker build -t (\S+) \./.exec(dockerfile)?.[1];
    expect(container.image).toBe(tag);
    const imageEnv = dockerStages(dockerfile)[0]!.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args);
    expect(imageEnv).toContain(`OFFLOAD_TASKS=${env['OFFLOAD_TASKS']}`);
    // One name for offload's own image: what deploy/Dockerfile says to tag, what the project builds on, what this file names.
    expect(read('deploy/Dockerfile')).toContain(`-t offload:${version} .`);
    expect(dockerStages(dockerfile)[0]!.from).toBe(`offload:${version}`);
    expect(source).toContain(`-t offload:${version} .`);
  });

  it("caps each worker's heap as offload derives it from the pod's memory limit", () => {
    const bytes = quantityBytes(required(container.resources?.limits?.['memory'], 'memory limit'));
    expect(offload().workerMaxMemoryMb).toBe(defaultWorkerHeapMb(bytes, offload().workers));
    expect(offload().workerMaxMemoryMb * offload().workers).toBeLessThan(bytes / 2 ** 20);
  });

  it('requests one CPU per worker thread, and sets no CPU limit (throttling would stall the event loop)', () => {
    const cpu = String(required(container.resources?.requests?.['cpu'], 'cpu request'));
    const cores = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
    expect(cores).toBe(offload().workers);
    expect(container.resources?.limits?.['cpu']).toBeUndefined();
  });

  it('has a ClusterIP Service and a headless Service (clusterIP None) that select the Deployment pods on the gRPC port', () => {
    const labels = required(deployment.spec?.template.metadata?.labels, 'pod labels');
    const clusterIp = services.find((s) => s.spec?.clusterIP === undefined && [undefined, 'ClusterIP'].includes(s.spec?.type));
    const headless = services.find((s) => s.spec?.clusterIP === 'None');
    expect(clusterIp).toBeDefined();
    expect(headless?.metadata?.name).toBe('offload-headless');
    for (const service of [clusterIp!, headless!]) {
      expect(labels).toMatchObject(required(service.spec?.selector, 'Service selector'));
      expect(service.spec?.ports?.map((p) => p.port)).toContain(offload().port);
    }
    expect(source).toContain('dns:///offload-headless.default.svc.cluster.local:50051');
  });

  it('keeps at least two replicas through voluntary disruptions, selecting the same pods', () => {
    const budget = required(manifests.find((m): m is PodDisruptionBudget => m.kind === 'PodDisruptionBudget'), 'PodDisruptionBudget');
    expect(budget.spec?.minAvailable).toBe(2);
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(required(budget.spec?.selector?.matchLabels, 'budget selector'));
  });
});

// ---- deploy/nginx.conf --------------------------------------------------------

/** nginx time (`90`, `500ms`, `30s`, `5m`, `1h`) in ms. */
function nginxMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!match) throw new Error(`not an nginx time: ${value}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's']!;
  return Number(match[1]) * unit;
}

/** nginx size (`512`, `8k`, `64m`, `1g`) in bytes. */
function nginxBytes(value: string): number {
  const match = /^(\d+)([kKmMgG])?$/.exec(value);
  if (!match) throw new Error(`not an nginx size: ${value}`);
  return Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] ?? ' ').toLowerCase());
}

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf')
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('\n');
  /** Every value of a directive. */
  const directive = (name: string): string[] => [...conf.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => m[1]!.trim());
  const one = (name: string): string => {
    const values = directive(name);
    expect(values, name).toHaveLength(1);
    return values[0]!;
  };

  it('serves HTTP/2 the nginx 1.22 way and passes gRPC to an upstream of several replicas', () => {
    expect(one('listen')).toMatch(/\bhttp2$/);
    expect(directive('http2')).toEqual([]);
    const upstream = /upstream (\S+) \{([\s\S]*?)\n\s*\}/.exec(conf);
    expect(upstream).not.toBeNull();
    expect(one('grpc_pass')).toBe(`grpc://${upstream![1]}`);
    expect([...upstream![2]!.matchAll(/^\s*server\s+\S+/gm)].length).toBeGreaterThanOrEqual(2);
    expect(Number(/^\s*keepalive\s+(\d+);/m.exec(upstream![2]!)?.[1])).toBeGreaterThan(0);
  });

  it('waits longer for a reply than any unary call may run (a unary Run sends nothing until it ends)', () => {
    expect(nginxMs(one('grpc_read_timeout'))).toBeGreaterThan(defaults.maxRunMs);
  });

  it('keeps idle timeouts for writing well above offload heartbeats', () => {
    for (const name of ['grpc_send_timeout', 'client_body_timeout', 'send_timeout']) {
      expect(nginxMs(one(name)), name).toBeGreaterThanOrEqual(Math.max(60_000, 4 * defaults.heartbeatMs));
    }
  });

  it('moves a call to the next replica when its replica cannot be reached, with a bounded number of tries', () => {
    expect(one('grpc_next_upstream').split(/\s+/)).toEqual(expect.arrayContaining(['error', 'timeout']));
    expect(Number(one('grpc_next_upstream_tries'))).toBeGreaterThanOrEqual(2);
    expect(nginxMs(one('grpc_connect_timeout'))).toBeLessThan(10_000);
  });

  it("puts no limit on a request's total size, which nginx counts over a whole RunBatch stream (offload limits each message)", () => {
    expect(nginxBytes(one('client_max_body_size'))).toBe(0);
  });
});
