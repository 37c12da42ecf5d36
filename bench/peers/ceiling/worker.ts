/**
 * The ceiling's piscina worker: the bundled tasks (compiled, as offload runs
 * them) called directly, progress posted on the run's MessagePort. No
 * validation, no cancellation, no coalescing: the least a pool can do.
 */
import type { MessagePort } from 'node:worker_threads';
import { loadBundledTasks, plainContext, splitReturn, withDefaults } from '../../lib/tasks.js';

export interface CeilingRun {
  task: string;
  input: unknown;
  data?: Uint8Array;
  /** Present for a streamed run: receives 'started' and {fraction, message}. */
  port?: MessagePort;
}

export interface CeilingReply {
  output: unknown;
  data: Uint8Array | undefined;
}

// Loaded on first use, not by a top-level await: piscina falls back from require() to import() for a
// module with top-level await, and under Node 20 a worker's import() does not see tsx's hooks.
let tasks: ReturnType<typeof loadBundledTasks> | undefined;

export default async function run({ task, input, data, port }: CeilingRun): Promise<CeilingReply> {
  const definition = (await (tasks ??= loadBundledTasks())).get(task);
  if (!definition) throw new Error(`unknown task "${task}"`);
  port?.postMessage('started');
  const onProgress = port ? (fraction: number, message: string) => port.postMessage({ fraction, message }) : undefined;
  try {
    return splitReturn(await definition.run(withDefaults(definition, input), plainContext(data ?? new Uint8Array(0), onProgress)));
  } finally {
    port?.close();
  }
}
