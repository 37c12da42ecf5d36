/**
 * The pool side of the bridge: piscina's entry in every worker thread. It
 * runs one task per call and always resolves with a typed reply, so a task's
 * failure crosses back as data and piscina only rejects when a worker dies.
 */
import { performance } from 'node:perf_hooks';
import type {
  ControlMessage,
  DescribedTask,
  DescribeMessage,
  PortMessage,
  RunMessage,
  RunReply,
  WorkerRequest,
} from '../src/pool/messages.js';
import { createCancelSignal } from './cancel-signal.js';
import { checkOutput } from './check-output.js';
import { loadTask } from './load-task.js';
import { createProgressReporter } from './progress-reporter.js';
import { TaskError } from './task.js';

export default async function handle(request: WorkerRequest): Promise<RunReply | DescribedTask[]> {
  return request.kind === 'run' ? runTask(request) : describeTasks(request);
}

async function runTask({ file, input, data, progress, port, abortFlag }: RunMessage): Promise<RunReply> {
  const { signal, abort } = createCancelSignal(abortFlag);
  port.on('message', (message: ControlMessage) => {
    if (message.type === 'abort') abort();
  });
  port.postMessage({ type: 'started' } satisfies PortMessage);
  const reporter = createProgressReporter(port, progress);
  const startedAt = performance.now();
  try {
    const task = await loadTask(file);
    const returned = await task.run(input, { data, signal, progress: reporter.progress });
    const { output, data: bytes } = splitReturn(returned);
    checkOutput(output);
    reporter.flush();
    return { ok: true, output, data: bytes, runMs: performance.now() - startedAt };
  } catch (error) {
    return {
      ok: false,
      code: error instanceof TaskError ? error.code : signal.aborted ? 'CANCELLED' : undefined,
      message: error instanceof Error ? error.message : String(error),
      detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
      runMs: performance.now() - startedAt,
    };
  } finally {
    port.close();
  }
}

function splitReturn(returned: unknown): { output: unknown; data: Uint8Array | undefined } {
  if (typeof returned === 'object' && returned !== null && !Array.isArray(returned)) {
    const record = returned as Record<string, unknown>;
    if (record['data'] instanceof Uint8Array && Object.keys(record).every((k) => k === 'output' || k === 'data')) {
      return { output: record['output'], data: record['data'] };
    }
  }
  return { output: returned, data: undefined };
}

async function describeTasks({ files }: DescribeMessage): Promise<DescribedTask[]> {
  const described: DescribedTask[] = [];
  for (const file of files) {
    try {
      const task = await loadTask(file);
      // A JSON copy: schema libraries may hang functions on their schemas.
      const input = JSON.parse(JSON.stringify(task.input)) as Record<string, unknown>;
      described.push({ file, ok: true, name: task.name, description: task.description, input, timeoutMs: task.timeoutMs });
    } catch (error) {
      described.push({ file, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return described;
}
