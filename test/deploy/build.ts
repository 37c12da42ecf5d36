import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/start-server.js';

const exec = promisify(execFile);

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/**
 * Compiles with tsconfig.build.json when dist/ is missing or older than the
 * sources. Skipping a fresh build (npm test builds before vitest) keeps this
 * file from rewriting dist/ while other test files start the compiled server.
 */
export async function buildIfStale(): Promise<void> {
  let built = 0;
  try {
    built = statSync(join(repoRoot, 'dist/src/main.js')).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = Math.max(
    ...['src', 'workers', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((p) => newestMtime(join(repoRoot, p))),
  );
  if (built > sources) return;
  await exec('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot, timeout: 120_000 });
}
