import { pathToFileURL } from 'node:url';
import type { TaskDefinition } from './task.js';

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;

const loaded = new Map<string, TaskDefinition>();

/** Imports a task module and checks its shape, once per worker. */
export async function loadTask(file: string): Promise<TaskDefinition> {
  const cached = loaded.get(file);
  if (cached) return cached;
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  const task = checkTask(mod.default);
  loaded.set(file, task);
  return task;
}

function checkTask(value: unknown): TaskDefinition {
  if (typeof value !== 'object' || value === null) {
    throw new Error('its default export is not a task: export default defineTask({ name, description, input, run })');
  }
  const task = value as Record<string, unknown>;
  if (typeof task['name'] !== 'string' || !NAME.test(task['name'])) {
    throw new Error('task name must be a string of letters, digits, "_", "-" or "." starting with a letter');
  }
  if (typeof task['description'] !== 'string') {
    throw new Error(`task ${task['name']}: description must be a string`);
  }
  if (typeof task['input'] !== 'object' || task['input'] === null || Array.isArray(task['input'])) {
    throw new Error(`task ${task['name']}: input must be a JSON Schema object`);
  }
  const timeoutMs = task['timeoutMs'];
  if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && (timeoutMs as number) > 0)) {
    throw new Error(`task ${task['name']}: timeoutMs must be a positive integer of milliseconds`);
  }
  if (task['cache'] !== undefined && typeof task['cache'] !== 'boolean') {
    throw new Error(`task ${task['name']}: cache must be true or false`);
  }
  if (task['version'] !== undefined && typeof task['version'] !== 'string') {
    throw new Error(`task ${task['name']}: version must be a string`);
  }
  if (typeof task['run'] !== 'function') {
    throw new Error(`task ${task['name']}: run must be a function`);
  }
  return value as TaskDefinition;
}
