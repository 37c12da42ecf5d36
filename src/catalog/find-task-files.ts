import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TaskLoadError } from './task-catalog.js';

const TASK_FILE = /\.(js|mjs|ts|mts)$/;

/** Every task module directly inside `dir`, sorted; .d.ts files and tests are not tasks. A directory without any is refused. */
export async function findTaskFiles(dir: string): Promise<string[]> {
  const abs = resolve(dir);
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory()) throw new TaskLoadError(`task directory ${dir} does not exist or is not a directory`);
  const names = (await readdir(abs)).filter(
    (name) => TASK_FILE.test(name) && !name.endsWith('.d.ts') && !/\.(test|spec)\.[cm]?[jt]s$/.test(name),
  );
  // An empty directory is a mistake (a mount that did not happen, a typo): serving without its tasks would hide it.
  if (names.length === 0) throw new TaskLoadError(`task directory ${dir} holds no task modules (.js, .mjs, .ts or .mts files directly inside it)`);
  return names.sort().map((name) => join(abs, name));
}
