import { describe, expect, it, vi } from 'vitest';
import { OffloadError, Status } from '../../src/errors.js';
import { TaskRun, type TaskEvent } from '../../src/pool/task-run.js';

const result = { type: 'result', output: 1, data: undefined, queuedMs: 0, runMs: 1 } as const;

describe('TaskRun', () => {
  it('keeps only the latest unread progress, and never drops the result', async () => {
    const run = new TaskRun(() => {});
    run.push({ type: 'started', queuedMs: 2 });
    for (let i = 1; i <= 1000; i++) run.push({ type: 'progress', fraction: i / 1000, message: `${i}` });
    run.push(result);
    const events: TaskEvent[] = [];
    for await (const event of run) events.push(event);
    expect(events).toEqual([{ type: 'started', queuedMs: 2 }, { type: 'progress', fraction: 1, message: '1000' }, result]);
  });

  it('delivers events pushed while the reader waits', async () => {
    const run = new TaskRun(() => {});
    const reading = (async () => {
      const seen: string[] = [];
      for await (const event of run) seen.push(event.type);
      return seen;
    })();
    await new Promise((r) => setTimeout(r, 5));
    run.push({ type: 'progress', fraction: 0.5, message: '' });
    await new Promise((r) => setTimeout(r, 5));
    run.push(result);
    expect(await reading).toEqual(['progress', 'result']);
  });

  it('throws the failure to the reader', async () => {
    const run = new TaskRun(() => {});
    run.fail(new OffloadError(Status.NOT_FOUND, 'gone'));
    await expect(run.result()).rejects.toMatchObject({ code: Status.NOT_FOUND, message: 'gone' });
  });

  it('cancels the task when the reader stops early', async () => {
    const cancel = vi.fn();
    const run = new TaskRun(cancel);
    run.push({ type: 'progress', fraction: 0.1, message: '' });
    for await (const event of run) {
      expect(event.type).toBe('progress');
      break;
    }
    expect(cancel).toHaveBeenCalledOnce();
  });

  it('does not cancel a task that has already finished', async () => {
    const cancel = vi.fn();
    const run = new TaskRun(cancel);
    run.push(result);
    await run.result();
    expect(cancel).not.toHaveBeenCalled();
  });
});
