/**
 * Day one with your own tasks, as the README tells it: `offload init` in an
 * empty directory, a task of your own beside the example, the project's own
 * tests and type check, `npx offload serve`, a call; then the same tasks in
 * the image layouts (a derived image, and a directory mounted into offload's
 * image), rebuilt from the Dockerfiles under a temporary root.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeClient } from '../../src/index.js';
import { repoRoot } from '../helpers/start-server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';
import { dockerStages, emptyLayout, hostEnv, replayStage, type Layout } from './dockerfile.js';

const exec = promisify(execFile);
const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

const SHOUT = `import { defineTask } from 'offload/task';

export default defineTask<{ text: string }>({
  name: 'shout',
  description: 'Upper-cases text.',
  input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false },
  run: ({ text }) => ({ text: text.toUpperCase() }),
});
`;

const work = mkdtempSync(join(tmpdir(), 'offload-day-one-'));
const project = join(work, 'my-tasks');
const servers: SpawnedServer[] = [];

async function run(command: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return exec(command, args, { cwd, timeout: 120_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
}

/** Calls both tasks on a server and checks their answers. */
async function expectBothTasks(address: string): Promise<void> {
  const client = createComputeClient(address.replace(/^0\.0\.0\.0:/, '127.0.0.1:'), { retry: false });
  try {
    await expect(client.run('shout', { text: 'day one' })).resolves.toEqual({ text: 'DAY ONE' });
    await expect(client.run('word-count', { text: 'to be or not to be', top: 1 })).resolves.toEqual({ words: 6, distinct: 4, top: [{ word: 'be', count: 2 }] });
  } finally {
    client.close();
  }
}

async function serve(command: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; executable?: string }): Promise<SpawnedServer> {
  const server = await spawnServer(command, { ...options, env: { OFFLOAD_WORKERS: '1', ...options.env } });
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
});

describe('a project of your own tasks', () => {
  beforeAll(async () => {
    await run('npx', ['--no-install', 'offload', 'init', project], repoRoot);
    writeFileSync(join(project, 'tasks/shout.ts'), SHOUT);
    await run('npm', ['install'], project);
  }, 180_000);

  it('passes its own tests and type check as written by offload init', async () => {
    const tests = await run('npm', ['test'], project);
    // Node 20's test runner reports in TAP ("# pass 3"), Node 24's in its spec format ("ℹ pass 3").
    expect(tests.stdout).toMatch(/[#ℹ] pass 3\n[#ℹ] fail 0/);
    await run('npm', ['run', 'typecheck'], project);
  }, 60_000);

  it('serves its tasks with npx offload serve, beside the bundled ones', async () => {
    const server = await serve(['--no-install', 'offload', 'serve', '--tasks', 'tasks', '--port', '0'], { cwd: project, executable: 'npx' });
    expect(server.stdout()).toMatch(/tasks: echo, primes, sha256, shout, spin, word-count/);
    await expectBothTasks(server.address);
  });

  it('refuses to overwrite an existing project', async () => {
    const failure = await run('npx', ['--no-install', 'offload', 'init', project], repoRoot).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2, stderr: `offload: ${join(project, 'package.json')} already exists; offload init writes a new project and overwrites nothing\n` });
  });

  describe('in an image', () => {
    let base: Layout;
    beforeAll(() => {
      const stages = dockerStages(readFileSync(join(repoRoot, 'deploy/Dockerfile'), 'utf8'));
      const build = stages[0]!;
      // The build stage compiled the repository in /app: its dist/ is this checkout's.
      base = replayStage(stages.at(-1)!, { context: repoRoot, stages: { [build.name!]: { workdir: '/app', dir: repoRoot } } }, emptyLayout(join(work, 'image')));
    }, 180_000);

    it('runs the tasks from a derived image built by the project Dockerfile', async () => {
      const stages = dockerStages(readFileSync(join(project, 'Dockerfile'), 'utf8'));
      expect(stages.map((s) => s.from)).toEqual([`offload:${version}`]);
      const derived = replayStage(stages[0]!, { context: project }, base);
      // Nothing under the image's /project may stand in for offload: the base image resolves it.
      expect(() => readFileSync(join(derived.root, 'project/node_modules/offload/package.json'))).toThrow();
      const server = await serve(derived.cmd.slice(1), {
        cwd: join(derived.root, derived.workdir),
        executable: derived.cmd[0] === 'node' ? process.execPath : derived.cmd[0],
        env: { ...hostEnv(derived), OFFLOAD_PORT: '0' },
      });
      await expectBothTasks(server.address);
    }, 180_000);

    it("runs the tasks from a directory mounted into offload's own image", async () => {
      const mounted = join(work, 'mnt/tasks');
      cpSync(join(project, 'tasks'), mounted, { recursive: true });
      const server = await serve(base.cmd.slice(1), {
        cwd: join(base.root, base.workdir),
        executable: process.execPath,
        env: { ...hostEnv(base), OFFLOAD_PORT: '0', OFFLOAD_TASKS: mounted },
      });
      await expectBothTasks(server.address);
    });
  });
});
