import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const protoDir = join(repoRoot, 'proto');
export const benchDir = join(repoRoot, 'bench');

/**
 * The compiled offload the benchmark runs. The harness builds its own copy
 * (see run.ts) and hands its location to every child in OFFLOAD_BENCH_BUILD,
 * so a concurrent `npm run build` cannot change dist/ under a running
 * benchmark; without it, the repository's dist/ is used.
 */
export function buildRoot(): string {
  return process.env['OFFLOAD_BENCH_BUILD'] ?? repoRoot;
}
export const distTasksDir = (): string => join(buildRoot(), 'dist', 'workers', 'tasks');
export const distMain = (): string => join(buildRoot(), 'dist', 'src', 'main.js');
