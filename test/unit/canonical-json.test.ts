import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/server/canonical-json.js';

describe('canonical JSON', () => {
  it('sorts the keys of every object, however deep, and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}');
  });

  it('writes scalars as JSON does, and undefined as null', () => {
    expect([null, true, 1.5, 'x"y', undefined].map(canonicalJson)).toEqual(['null', 'true', '1.5', '"x\\"y"', 'null']);
  });

  it('parses back to an equal value', () => {
    const value = { z: [1, 'two', { y: false }], a: { nested: { deeper: 'é' } } };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });
});
