import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** '.ts' when offload runs from source (tests, tsx), '.js' when it runs from dist/. */
export const sourceExtension = extname(fileURLToPath(import.meta.url));

/** The package root, whether this file is src/package-paths.ts or dist/src/package-paths.js. */
export const packageRoot = fileURLToPath(new URL(sourceExtension === '.ts' ? '..' : '../..', import.meta.url));

/** A file shipped as-is (not compiled), by its path from the package root. */
export function packageFile(path: string): string {
  return join(packageRoot, path);
}
