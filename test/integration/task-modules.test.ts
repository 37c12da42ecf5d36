/**
 * Task modules written anywhere: outside this repository, with no
 * node_modules, in every module form, importing 'offload/task' as the README
 * shows. The compiled server is started as a user starts it.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeClient, OffloadError, Status, type ComputeClient } from '../../src/index.js';
import { repoRoot } from '../helpers/start-server.js';
import { spawnServer, type SpawnedServer } from '../helpers/spawn-server.js';

const MAIN = join(repoRoot, 'dist/src/main.js');

/** Writes files (path relative to a new temporary directory: contents) and returns the directory. */
async function writeTree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'offload-own-tasks-'));
  for (const [path, contents] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), contents);
  }
  return root;
}

/** The README's task example, verbatim: what a new user copies first. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Writing a task'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('README has no ts example under "Writing a task"');
  return block[1]!;
}

const upper = (name: string) =>
  `export default defineTask({ name: '${name}', description: 'upper-cases a string', input: { type: 'string' }, run: (s) => s.toUpperCase() });\n`;

function useServer(files: () => Promise<Record<string, string>>): { client: ComputeClient; server: SpawnedServer } {
  const current = {} as { client: ComputeClient; server: SpawnedServer };
  beforeAll(async () => {
    const dir = await writeTree(await files());
    current.server = await spawnServer([MAIN, '--port', '0', '--workers', '1', '--tasks', dir]);
    current.client = createComputeClient(current.server.address, { retry: false });
  });
  afterAll(async () => {
    current.client?.close();
    await current.server?.stop();
  });
  return current;
}

describe('JavaScript tasks outside offload', () => {
  const ctx = useServer(async () => ({
    'esm.mjs': `import { defineTask } from 'offload/task';\n${upper('esm-mjs')}`,
    'detected.js': `import { defineTask } from 'offload/task';\n${upper('esm-js')}`,
    'common.js': `const { defineTask, TaskError } = require('offload/task');\nmodule.exports = defineTask({ name: 'cjs', description: 'refuses', input: {}, run() { throw new TaskError('FAILED_PRECONDITION', 'no'); } });\n`,
    'library.mjs': `import { defineTask } from 'offload/task';\nimport { Status } from 'offload';\nexport default defineTask({ name: 'status-of', description: 'a status code by name', input: { type: 'string' }, run: (name) => Status[name] });\n`,
  }));

  it('serves an .mjs task that imports offload/task, with no TypeScript task beside it', async () => {
    await expect(ctx.client.run('esm-mjs', 'abc')).resolves.toBe('ABC');
  });

  it('serves a .js task written as an ES module in a directory with no package.json', async () => {
    await expect(ctx.client.run('esm-js', 'abc')).resolves.toBe('ABC');
  });

  it('serves a CommonJS task that requires offload/task, and its TaskError keeps its code', async () => {
    const error = await ctx.client.run('cjs', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OffloadError);
    expect(error).toMatchObject({ code: Status.FAILED_PRECONDITION, message: 'no' });
  });

  it('resolves a bare offload import to the running offload', async () => {
    await expect(ctx.client.run('status-of', 'NOT_FOUND')).resolves.toBe(Status.NOT_FOUND);
  });
});

describe('TypeScript tasks outside offload', () => {
  const ctx = useServer(async () => ({
    'repeat.ts': await readmeExample(),
    'wc.mts': `import { defineTask } from 'offload/task';\nexport default defineTask<{ text: string }>({ name: 'wc', description: 'counts words', input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] }, run: ({ text }) => ({ words: text.split(/\\s+/).filter(Boolean).length }) });\n`,
  }));

  it("serves the README's example task, copied verbatim into a directory of its own", async () => {
    await expect(ctx.client.run('repeat', { text: 'ab', times: 3 })).resolves.toEqual({ text: 'ababab' });
    const error = await ctx.client.run('repeat', { text: 'x'.repeat(1000), times: 10000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Status.OUT_OF_RANGE, message: 'that would be too long' });
  });

  it('serves an .mts task', async () => {
    await expect(ctx.client.run('wc', { text: 'one two  three' })).resolves.toEqual({ words: 3 });
  });
});
