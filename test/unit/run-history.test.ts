import { describe, expect, it } from 'vitest';
import { PROGRESS_KEPT, RECENT, RunHistory } from '../../src/dashboard/run-history.js';
import { MAX_MESSAGE_LENGTH, Status } from '../../src/errors.js';
import type { Job } from '../../src/pool/job.js';
import type { SettledRun } from '../../src/pool/task-pool.js';

const settled = (id: number, code = Status.OK, message?: string): SettledRun => ({ id, task: 'spin', tenant: 'default', job: undefined, code, message, submittedAt: 0, queuedMs: 1, runMs: 2, trace: undefined });

/** Just what sampling reads of a job. */
const job = (id: number, progress?: { fraction: number; message: string }): Job => ({ id, latestProgress: progress }) as unknown as Job;

describe('RunHistory', () => {
  it(`keeps the last ${RECENT} settled runs, newest first, with their status name and message`, () => {
    const history = new RunHistory(() => 1000);
    for (let id = 1; id <= RECENT + 7; id++) history.settled(settled(id, id % 10 ? Status.OK : Status.CANCELLED, id % 10 ? undefined : 'cancelled by the client'));
    const recent = history.recent();
    expect(recent.map((run) => run.id)).toEqual(Array.from({ length: RECENT }, (_, i) => RECENT + 7 - i));
    expect(history.find(50)).toMatchObject({ outcome: 'CANCELLED', message: 'cancelled by the client', endedAt: 1000 });
    expect(history.find(7)).toBeUndefined();
  });

  it(`notes each change of a live run's progress, the newest ${PROGRESS_KEPT}, and hands them to the run once it ends`, () => {
    let now = 0;
    const history = new RunHistory(() => now);
    let progress = { fraction: 0, message: 'start' };
    for (let step = 1; step <= PROGRESS_KEPT + 5; step++) {
      now = step;
      progress = { fraction: step / 100, message: `step ${step}` };
      history.sample([job(1, progress), job(2)]);
      history.sample([job(1, progress)]); // the same progress seen again is not a new event
    }
    expect(history.progressOf(1)).toHaveLength(PROGRESS_KEPT);
    expect(history.progressOf(1).at(-1)).toEqual({ at: PROGRESS_KEPT + 5, fraction: (PROGRESS_KEPT + 5) / 100, message: `step ${PROGRESS_KEPT + 5}` });
    expect(history.progressOf(2)).toEqual([]);
    history.settled(settled(1));
    expect(history.progressOf(1)).toEqual([]);
    expect(history.find(1)!.progress).toHaveLength(PROGRESS_KEPT);
  });

  it('keeps a failed run\'s message only as long as a status message may be', () => {
    const history = new RunHistory();
    history.settled(settled(1, Status.INVALID_ARGUMENT, `bad input: ${'x'.repeat(5_000_000)}`));
    const { message } = history.find(1)!;
    expect(message).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(message!.startsWith('bad input: xxx')).toBe(true);
  });

  it('counts worker restarts', () => {
    const history = new RunHistory();
    history.workerRestarted();
    history.workerRestarted();
    expect(history.restarts).toBe(2);
  });
});
