import { Ajv, type ErrorObject } from 'ajv';
import { Errors } from '../errors.js';

const ajv = new Ajv({ useDefaults: true, allErrors: false });

export type InputValidator = (input: unknown) => unknown;

/**
 * Compiles a task's JSON Schema once. The validator returns the input with
 * schema defaults filled in, or throws INVALID_ARGUMENT naming the field.
 * An absent input counts as `{}` when the schema expects an object.
 */
export function compileInputValidator(schema: Record<string, unknown>): InputValidator {
  const validate = ajv.compile(schema);
  const expectsObject = schema['type'] === 'object';
  return (input) => {
    const value = input === undefined ? (expectsObject ? {} : null) : input;
    const hole = findMissingValue(value, 'input');
    if (hole) throw Errors.valueWithoutKind(hole);
    if (validate(value)) return value;
    throw Errors.invalidInput(describeError(validate.errors?.[0]));
  };
}

/**
 * The path of the first list item or struct field that decoded to nothing: a
 * Value with no kind set. JSON has no such value, so no schema can accept it.
 */
function findMissingValue(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) return `${path}[${i}]`;
      const found = typeof item === 'object' ? findMissingValue(item, `${path}[${i}]`) : undefined;
      if (found) return found;
    }
    return undefined;
  }
  for (const name in value) {
    const item = (value as Record<string, unknown>)[name];
    if (item === undefined) return `${path}${key(name)}`;
    const found = typeof item === 'object' ? findMissingValue(item, `${path}${key(name)}`) : undefined;
    if (found) return found;
  }
  return undefined;
}

function describeError(error: ErrorObject | undefined): string {
  if (!error) return 'input is invalid';
  const path = fieldPath(error.instancePath);
  switch (error.keyword) {
    case 'required':
      return `${path}${key(String(error.params['missingProperty']))} is required`;
    case 'additionalProperties':
      return `${path}${key(String(error.params['additionalProperty']))} is not a known field`;
    default:
      return `${path} ${error.message ?? 'is invalid'}`;
  }
}

/** JSON Pointer "/a/0/b c" to "input.a[0]["b c"]". */
function fieldPath(pointer: string): string {
  if (pointer === '') return 'input';
  return 'input' + pointer.slice(1).split('/').map((part) => key(part.replace(/~1/g, '/').replace(/~0/g, '~'))).join('');
}

function key(part: string): string {
  if (/^(0|[1-9][0-9]*)$/.test(part)) return `[${part}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part)) return `.${part}`;
  return `[${JSON.stringify(part)}]`;
}
