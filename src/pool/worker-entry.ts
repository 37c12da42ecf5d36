import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageFile, sourceExtension } from '../package-paths.js';

/**
 * The worker entry next to this build: workers/worker.ts when offload runs
 * from source (tests, tsx), dist/workers/worker.js when it runs compiled.
 */
export const workerEntry = fileURLToPath(new URL(`../../workers/worker${sourceExtension}`, import.meta.url));

/** Where the bundled task modules are, in the same form as the worker entry. */
export const bundledTasksDir = fileURLToPath(new URL('../../workers/tasks', import.meta.url));

/** Whether a file is TypeScript, so workers need the tsx loader to import it. */
export function isTypeScript(file: string): boolean {
  return /\.(ts|mts|cts)$/.test(file) && !file.endsWith('.d.ts');
}

/**
 * Piscina's filename, and the real entry when it differs. When any module
 * the workers import is TypeScript, a small JS entry registers tsx first
 * (see ts-worker.mjs); compiled offload with JS tasks loads the worker entry
 * directly.
 */
export function workerModule(taskFiles: readonly string[]): { filename: string; entry: string | undefined } {
  if (![workerEntry, ...taskFiles].some(isTypeScript)) return { filename: workerEntry, entry: undefined };
  return { filename: packageFile('src/pool/ts-worker.mjs'), entry: pathToFileURL(workerEntry).href };
}
