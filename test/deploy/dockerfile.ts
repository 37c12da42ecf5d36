/**
 * Dockerfiles read as text, and their last stage replayed into a directory:
 * no Docker engine runs here, so the tests rebuild an image's file layout
 * (COPY, WORKDIR, ENV and RUN, in order) under a temporary root and run its
 * CMD there, with the image's absolute paths moved under that root.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { basename, join, posix } from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions per stage (line continuations joined, comments dropped). */
export function dockerStages(source: string): Stage[] {
  const joined = source
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(args)!;
      stages.push({ from: from[1]!, name: from[2], instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword, args });
    }
  }
  return stages;
}

/** An image's state as the replay leaves it. */
export interface Layout {
  /** The directory that stands for the image's "/". */
  root: string;
  /** WORKDIR, as an image path. */
  workdir: string;
  env: Record<string, string>;
  cmd: string[];
}

export interface ReplayOptions {
  /** The build context: where COPY sources are read. */
  context: string;
  /** Where a `COPY --from=STAGE /path` reads `/path`: the image path the build stage worked in, and the host directory holding its result. */
  stages?: Record<string, { workdir: string; dir: string }>;
}

/**
 * Replays a stage on top of `base` (a fresh layout under `root` when none).
 * RUN commands run with `sh -c` in the replayed WORKDIR; `npm cache clean`
 * is skipped, since the cache is this machine's, not the image's.
 */
export function replayStage(stage: Stage, options: ReplayOptions, base: Layout): Layout {
  const layout: Layout = { ...base, env: { ...base.env }, cmd: [...base.cmd] };
  const host = (imagePath: string): string => join(layout.root, posix.resolve(layout.workdir, imagePath));
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR') {
      layout.workdir = posix.resolve(layout.workdir, args);
      mkdirSync(host('.'), { recursive: true });
    } else if (keyword === 'ENV') {
      for (const [, name, value] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) layout.env[name!] = value!.replace(/^"|"$/g, '');
    } else if (keyword === 'CMD') {
      layout.cmd = JSON.parse(args) as string[];
    } else if (keyword === 'COPY') {
      const words = args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const dest = paths.pop()!;
      for (const source of paths) {
        const origin = from ? options.stages?.[from] : undefined;
        if (from && !origin) throw new Error(`COPY --from=${from}: no such stage given to the replay`);
        const src = origin ? join(origin.dir, posix.relative(origin.workdir, source)) : join(options.context, source);
        const target = dest.endsWith('/') || paths.length > 1 ? posix.join(dest, basename(source)) : dest;
        mkdirSync(join(host(target), '..'), { recursive: true });
        cpSync(src, host(target), { recursive: true });
      }
    } else if (keyword === 'RUN') {
      const command = args.replace(/\s*&&\s*npm cache clean --force/g, '');
      execFileSync('sh', ['-c', command], { cwd: host('.'), stdio: 'pipe', env: { ...process.env, ...layout.env } });
    }
  }
  return layout;
}

/** A new, empty layout under `root`. */
export function emptyLayout(root: string): Layout {
  return { root, workdir: '/', env: {}, cmd: [] };
}

/** The layout's environment with absolute image paths in OFFLOAD_TASKS moved under its root. */
export function hostEnv(layout: Layout): Record<string, string> {
  const env = { ...layout.env };
  if (env['OFFLOAD_TASKS']) env['OFFLOAD_TASKS'] = env['OFFLOAD_TASKS'].split(',').map((dir) => join(layout.root, dir)).join(',');
  return env;
}

/**
 * Node's own flags in the runtime image's CMD (`node FLAGS script …`), so a
 * test can start offload the way the image does.
 */
export function imageNodeFlags(dockerfile: string): string[] {
  const cmd = dockerStages(dockerfile)
    .at(-1)
    ?.instructions.filter((i) => i.keyword === 'CMD')
    .at(-1);
  if (!cmd) throw new Error('the Dockerfile has no CMD');
  const [executable, ...args] = JSON.parse(cmd.args) as string[];
  if (executable !== 'node') throw new Error(`the image's CMD runs ${executable}, not node`);
  return args.slice(0, args.findIndex((arg) => !arg.startsWith('-')));
}
