import { describe, expect, it } from 'vitest';
import { compileInputValidator } from '../../src/catalog/input-validator.js';
import { OffloadError, Status } from '../../src/errors.js';
import spin from '../../workers/tasks/spin.js';

const validateSpin = compileInputValidator(spin.input);

function failure(fn: () => unknown): OffloadError {
  try {
    fn();
  } catch (error) {
    return error as OffloadError;
  }
  throw new Error('expected validation to fail');
}

describe('compileInputValidator', () => {
  it('fills in schema defaults', () => {
    expect(validateSpin({ ms: 5 })).toEqual({ ms: 5, steps: 10 });
  });

  it.each([
    [{ ms: 60001 }, 'input.ms must be <= 60000'],
    [{ ms: -1 }, 'input.ms must be >= 0'],
    [{ ms: 1.5 }, 'input.ms must be integer'],
    [{ ms: '10' }, 'input.ms must be integer'],
    [{}, 'input.ms is required'],
    [{ ms: 1, speed: 2 }, 'input.speed is not a known field'],
    [[1, 2], 'input must be object'],
    [null, 'input must be object'],
  ])('rejects %j with INVALID_ARGUMENT "%s"', (input, message) => {
    const error = failure(() => validateSpin(input));
    expect(error).toBeInstanceOf(OffloadError);
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.message).toBe(message);
  });

  it('names nested fields and array items by their path', () => {
    const validate = compileInputValidator({
      type: 'object',
      properties: { items: { type: 'array', items: { type: 'object', properties: { 'odd key': { type: 'number' } } } } },
    });
    expect(failure(() => validate({ items: [{}, { 'odd key': 'x' }] })).message).toBe('input.items[1]["odd key"] must be number');
  });

  it('treats an absent input as {} for object schemas and as null otherwise', () => {
    expect(failure(() => validateSpin(undefined)).message).toBe('input.ms is required');
    expect(compileInputValidator({})(undefined)).toBeNull();
  });

  it('refuses NaN and infinities where a number is expected', () => {
    expect(failure(() => validateSpin({ ms: Number.NaN })).code).toBe(Status.INVALID_ARGUMENT);
    expect(failure(() => validateSpin({ ms: Number.POSITIVE_INFINITY })).code).toBe(Status.INVALID_ARGUMENT);
  });
});
