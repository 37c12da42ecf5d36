import { Errors } from '../errors.js';
import type { DescribedTask } from '../../bridge/messages.js';
import { compileInputValidator, type InputValidator } from './input-validator.js';

export interface RegisteredTask {
  readonly name: string;
  readonly description: string;
  /** Absolute path of the module the workers import. */
  readonly file: string;
  readonly inputSchema: Record<string, unknown>;
  /** The task's own run-time limit, if it sets one. */
  readonly timeoutMs: number | undefined;
  /** Its output depends only on its request: identical requests may share a run and a cached result. */
  readonly cache: boolean;
  /** Part of its cache key: a new version never reuses an old result. */
  readonly version: string;
  /** Returns the input with defaults applied, or throws INVALID_ARGUMENT. */
  readonly validate: InputValidator;
}

/** Raised at start-up when a task module cannot be served; the message names the file. */
export class TaskLoadError extends Error {
  override name = 'TaskLoadError';
}

/** The tasks this server runs, by name. Built once at start-up, then read-only. */
export class TaskCatalog {
  readonly #tasks: ReadonlyMap<string, RegisteredTask>;

  constructor(described: readonly DescribedTask[]) {
    const tasks = new Map<string, RegisteredTask>();
    for (const entry of described) {
      if (!entry.ok) throw new TaskLoadError(`${entry.file}: ${entry.error}`);
      const other = tasks.get(entry.name);
      if (other) throw new TaskLoadError(`${entry.file}: task name "${entry.name}" is already defined by ${other.file}`);
      let validate: InputValidator;
      try {
        validate = compileInputValidator(entry.input);
      } catch (error) {
        throw new TaskLoadError(`${entry.file}: task ${entry.name} has an invalid input schema: ${(error as Error).message}`);
      }
      tasks.set(entry.name, Object.freeze({ ...entry, inputSchema: entry.input, validate }));
    }
    this.#tasks = new Map([...tasks].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** The task called `name`, or NOT_FOUND. */
  get(name: string): RegisteredTask {
    const task = this.#tasks.get(name);
    if (!task) throw Errors.unknownTask(name);
    return task;
  }

  list(): RegisteredTask[] {
    return [...this.#tasks.values()];
  }

  get names(): string[] {
    return [...this.#tasks.keys()];
  }
}
