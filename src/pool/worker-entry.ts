import { relative, isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageFile, sourceExtension } from '../package-paths.js';
import type { WorkerBoot } from '../../bridge/messages.js';

/**
 * The worker entry next to this build: workers/worker.ts when offload runs
 * from source (tests, tsx), dist/workers/worker.js when it runs compiled.
 */
export const workerEntry = fileURLToPath(new URL(`../../workers/worker${sourceExtension}`, import.meta.url));

/** Where the bundled task modules are, in the same form as the worker entry. */
export const bundledTasksDir = fileURLToPath(new URL('../../workers/tasks', import.meta.url));

/** What a task module's `import 'offload'` and `import 'offload/task'` stand for: this very offload. */
export const offloadModules: Readonly<Record<string, string>> = Object.freeze({
  offload: fileURLToPath(new URL(`../index${sourceExtension}`, import.meta.url)),
  'offload/task': fileURLToPath(new URL(`../../workers/task${sourceExtension}`, import.meta.url)),
});

/** Whether a file is TypeScript, so workers need the tsx loader to import it. */
export function isTypeScript(file: string): boolean {
  return /\.(ts|mts|cts)$/.test(file) && !file.endsWith('.d.ts');
}

/**
 * Piscina's filename and what the boot entry must prepare. Workers start
 * through workers/boot.mjs when a module they import is TypeScript (tsx is
 * registered first) or when a task lives outside offload (its 'offload/task'
 * import is resolved to this offload); compiled offload serving only its
 * bundled tasks loads the worker entry directly, with no loader hooks at all.
 */
export function workerModule(taskFiles: readonly string[]): { filename: string; boot: WorkerBoot } {
  const typescript = [workerEntry, ...taskFiles].some(isTypeScript);
  const foreign = taskFiles.some((file) => !isInside(bundledTasksDir, file));
  if (!typescript && !foreign) return { filename: workerEntry, boot: {} };
  return {
    filename: packageFile('workers/boot.mjs'),
    boot: { entry: pathToFileURL(workerEntry).href, typescript, ...(foreign ? { offloadModules: { ...offloadModules } } : {}) },
  };
}

function isInside(dir: string, file: string): boolean {
  const path = relative(dir, file);
  return path !== '' && !path.startsWith('..') && !isAbsolute(path);
}
