import { ServerError } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { OffloadError, Status, statusFromName } from '../../src/errors.js';

describe('OffloadError.from', () => {
  it('keeps an OffloadError as it is', () => {
    const error = new OffloadError(Status.NOT_FOUND, 'no such task');
    expect(OffloadError.from(error)).toBe(error);
  });

  it('keeps the code and details of a ServerError', () => {
    const error = OffloadError.from(new ServerError(Status.UNAVAILABLE, 'later'));
    expect([error.code, error.message]).toEqual([Status.UNAVAILABLE, 'later']);
  });

  it('turns anything unexpected into a generic INTERNAL and keeps the stack for the log only', () => {
    const cause = new TypeError('x is undefined');
    const error = OffloadError.from(cause);
    expect(error.code).toBe(Status.INTERNAL);
    expect(error.message).toBe('internal error');
    expect(error.detail).toContain('TypeError: x is undefined');
    expect(error.toServerError().details).toBe('internal error');
  });

  it('counts INTERNAL as a server fault and NOT_FOUND as the caller\'s', () => {
    expect(new OffloadError(Status.INTERNAL, '').isServerFault).toBe(true);
    expect(new OffloadError(Status.NOT_FOUND, '').isServerFault).toBe(false);
  });
});

describe('statusFromName', () => {
  it('maps canonical names to codes and refuses the rest', () => {
    expect(statusFromName('FAILED_PRECONDITION')).toBe(Status.FAILED_PRECONDITION);
    expect(statusFromName('OK')).toBeUndefined();
    expect(statusFromName('NOPE')).toBeUndefined();
    expect(statusFromName(undefined)).toBeUndefined();
  });
});
