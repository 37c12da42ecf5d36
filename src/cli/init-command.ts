/**
 * `offload init [DIR]`: writes a project for a team's own tasks (see
 * task-project.ts) into DIR, an empty or new directory, and says what to do next.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { packageRoot } from '../package-paths.js';
import { CliError } from './cli-error.js';
import { FlagError, parseFlags } from '../parse-flags.js';
import { taskProjectFiles } from './task-project.js';

export const INIT_USAGE = `Usage: offload init [DIR]

Writes a project for your own tasks into DIR (default: the current directory):
package.json, tsconfig.json, an example task with its test in tasks/, and a
Dockerfile that puts the tasks on offload's image. Existing files are never
overwritten.
`;

interface OffloadPackage {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

export async function initCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseInitArgs(argv);
  if (values['help']) {
    process.stdout.write(INIT_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new CliError(`offload init takes one directory\n\n${INIT_USAGE}`);
  const dir = resolve(positionals[0] ?? '.');
  const own = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as OffloadPackage;
  const files = taskProjectFiles({
    name: packageName(basename(dir)),
    offloadSpec: offloadSpec(dir, own.version),
    version: own.version,
    tools: { typescript: own.devDependencies['typescript']!, tsx: own.dependencies['tsx']!, typesNode: own.devDependencies['@types/node']! },
  });
  const taken = Object.keys(files).filter((path) => existsSync(join(dir, path)));
  if (taken.length > 0) {
    throw new CliError(`${join(dir, taken[0]!)} already exists; offload init writes a new project and overwrites nothing`);
  }
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), contents);
  }
  const shown = relative(process.cwd(), dir) || '.';
  process.stdout.write(
    `Wrote a task project in ${shown}: ${Object.keys(files).join(', ')}\n\nNext:\n` +
      (shown === '.' ? '' : `  cd ${shown}\n`) +
      `  npm install\n` +
      `  npm test                 # the example task's tests\n` +
      `  npm start                # offload serving tasks/ on 127.0.0.1:50051\n` +
      `  npx offload run word-count --input '{"text":"to be or not to be"}'\n`,
  );
  return 0;
}

function parseInitArgs(argv: string[]): ReturnType<typeof parseFlags> {
  try {
    return parseFlags(argv, { help: { type: 'boolean', short: 'h' } }, { allowPositionals: true });
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    throw new CliError(error.problem === 'unknown-flag' ? `unknown flag ${error.flag} for "offload init"; see offload init --help` : error.message);
  }
}

/**
 * offload as the project's devDependency: this very checkout (a file: path)
 * when offload runs from one, its version when it was installed from a registry.
 */
function offloadSpec(dir: string, version: string): string {
  if (packageRoot.split(sep).includes('node_modules')) return `^${version}`;
  const path = relative(dir, packageRoot).split(sep).join('/');
  return `file:${path === '' ? '.' : path}`;
}

/** A valid npm package name from a directory name. */
function packageName(base: string): string {
  const name = base.toLowerCase().replace(/[^a-z0-9._~-]+/g, '-').replace(/^[._-]+/, '').slice(0, 214);
  return name === '' ? 'offload-tasks' : name;
}
