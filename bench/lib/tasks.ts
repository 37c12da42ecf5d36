/**
 * The bundled tasks exactly as offload runs them: the compiled modules in
 * dist/workers/tasks (the harness builds them first). The inline peer, the
 * ceiling's workers and the Python peer's catalogue all come from here, so
 * every server runs and describes the same tasks.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TaskContext, TaskDefinition } from '../../workers/task.js';
import { distTasksDir } from './paths.js';

export async function loadBundledTasks(): Promise<Map<string, TaskDefinition>> {
  const files = readdirSync(distTasksDir()).filter((f) => f.endsWith('.js')).sort();
  const tasks = new Map<string, TaskDefinition>();
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(distTasksDir(), file)).href)) as { default?: TaskDefinition };
    if (mod.default && typeof mod.default.run === 'function') tasks.set(mod.default.name, mod.default);
  }
  if (tasks.size === 0) throw new Error(`no tasks in ${distTasksDir()}; build offload first (npx tsc -p tsconfig.build.json)`);
  return tasks;
}

/** The JSON a task's run returned, split into output and bytes as offload's worker does. */
export function splitReturn(returned: unknown): { output: unknown; data: Uint8Array | undefined } {
  if (typeof returned === 'object' && returned !== null && !Array.isArray(returned)) {
    const record = returned as Record<string, unknown>;
    if (record['data'] instanceof Uint8Array && Object.keys(record).every((k) => k === 'output' || k === 'data')) {
      return { output: record['output'], data: record['data'] };
    }
  }
  return { output: returned, data: undefined };
}

/** Fills in the schema defaults the bundled tasks rely on (spin's steps), the one thing a newcomer would copy. */
export function withDefaults(task: TaskDefinition, input: unknown): unknown {
  const properties = (task.input['properties'] ?? {}) as Record<string, { default?: unknown }>;
  if (task.input['type'] !== 'object') return input;
  const record = { ...((input ?? {}) as Record<string, unknown>) };
  for (const [key, schema] of Object.entries(properties)) if (record[key] === undefined && schema.default !== undefined) record[key] = schema.default;
  return record;
}

/** A context for running a task outside offload: never aborted, progress to `onProgress`. */
export function plainContext(data: Uint8Array, onProgress?: (fraction: number, message: string) => void): TaskContext {
  return {
    data,
    signal: new AbortController().signal,
    progress: onProgress ? (fraction, message) => onProgress(fraction, message ?? '') : () => {},
  };
}
