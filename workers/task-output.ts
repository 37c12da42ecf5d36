/**
 * A task's console output (console.log, console.error, process.stdout.write)
 * leaves the worker as whole lines in messages, for the server to log as
 * JSON lines with the task's name: written raw, it would land between the
 * server's JSON log lines and break any log shipper reading them.
 */
import { StringDecoder } from 'node:string_decoder';
import { OUTPUT_LINES_PER_SECOND, type TaskOutputMessage } from '../bridge/messages.js';
/** Longer lines are cut: a log line is not a place for a task's data. */
const MAX_LINE_CHARS = 8192;

type Stream = 'stdout' | 'stderr';

/** Who printed: the run's task, and the call (and batch item) it runs for. */
export interface OutputOwner {
  task: string;
  call: number | undefined;
  item: string | undefined;
}

export interface OutputCapture {
  /** Lines from now on belong to this run (undefined: none, as while modules load). */
  setRun(run: OutputOwner | undefined): void;
  /** Sends a pending partial line and the count of dropped lines: the run that printed them is ending. */
  flush(): void;
}

export function captureTaskOutput(post: (message: TaskOutputMessage) => void): OutputCapture {
  let run: OutputOwner | undefined;
  const partial: Record<Stream, string> = { stdout: '', stderr: '' };
  // A character whose bytes a task wrote in two chunks waits here for its last byte.
  const decoders: Record<Stream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  /** Per task name: the current one-second window, the lines sent in it and those dropped. */
  const budgets = new Map<string, { window: number; sent: number; dropped: number }>();

  const send = (stream: Stream, text: string): void => {
    const task = run?.task;
    const key = task ?? '';
    const window = Math.floor(performance.now() / 1000);
    let budget = budgets.get(key);
    if (!budget) budgets.set(key, (budget = { window, sent: 0, dropped: 0 }));
    if (budget.window !== window) {
      reportDropped(key, budget);
      budget.window = window;
      budget.sent = 0;
    }
    if (budget.sent >= OUTPUT_LINES_PER_SECOND) {
      budget.dropped++;
      return;
    }
    budget.sent++;
    const line = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS - 1)}…` : text;
    post({ offload: 'output', task, call: run?.call, item: run?.item, stream, line });
  };
  const reportDropped = (key: string, budget: { dropped: number }): void => {
    if (budget.dropped === 0) return;
    post({ offload: 'output', task: key || undefined, call: run?.call, item: run?.item, stream: 'stderr', dropped: budget.dropped });
    budget.dropped = 0;
  };
  const write = (stream: Stream, chunk: unknown): void => {
    const decoder = decoders[stream];
    const text = partial[stream] + (typeof chunk === 'string' ? decoder.end() + chunk : decoder.write(chunk as Uint8Array));
    const lines = text.split('\n');
    partial[stream] = lines.pop()!;
    for (const line of lines) send(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    // Console writes through these methods, so replacing them catches console.* too.
    (process[stream] as { write: unknown }).write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      write(stream, chunk);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    };
  }
  return {
    setRun(next) {
      run = next;
    },
    flush() {
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = partial[stream] + decoders[stream].end();
        if (rest !== '') send(stream, rest);
        partial[stream] = '';
      }
      const key = run?.task ?? '';
      const budget = budgets.get(key);
      if (budget) reportDropped(key, budget);
    },
  };
}
