import { describe, expect, it } from 'vitest';
import { Errors, Status } from '../../src/errors.js';
import { CrashBreaker } from '../../src/pool/crash-breaker.js';

describe('CrashBreaker', () => {
  it('suspends a task after the limit of crashes in a row, for the cooldown', () => {
    const breaker = new CrashBreaker(3, 10_000);
    for (let i = 0; i < 3; i++) {
      expect(() => breaker.check('bad', 0)).not.toThrow();
      breaker.record('bad', true, 0);
    }
    expect(() => breaker.check('bad', 1000)).toThrow(
      expect.objectContaining({ code: Status.FAILED_PRECONDITION, message: Errors.taskSuspended('bad', 9, 3).message }),
    );
    expect(() => breaker.check('good', 1000)).not.toThrow();
    expect(() => breaker.check('bad', 10_000)).not.toThrow();
  });

  it('lets one run through after the cooldown and reopens at once if it crashes again', () => {
    const breaker = new CrashBreaker(2, 1000);
    breaker.record('bad', true, 0);
    breaker.record('bad', true, 0);
    breaker.record('bad', true, 1000);
    expect(() => breaker.check('bad', 1500)).toThrow();
  });

  it('forgets the crashes after a run that does not crash', () => {
    const breaker = new CrashBreaker(2, 1000);
    breaker.record('flaky', true, 0);
    breaker.record('flaky', false, 0);
    breaker.record('flaky', true, 0);
    expect(() => breaker.check('flaky', 0)).not.toThrow();
  });

  it('never suspends with a limit of 0', () => {
    const breaker = new CrashBreaker(0, 1000);
    for (let i = 0; i < 10; i++) breaker.record('bad', true, 0);
    expect(() => breaker.check('bad', 0)).not.toThrow();
  });
});
