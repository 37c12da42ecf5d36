const MAX_DEPTH = 512;

/**
 * Checks that a task's output can become a google.protobuf.Value, so a bad
 * return fails its own call with a clear message instead of failing to cross
 * the thread boundary or the wire. Object properties that are undefined are
 * dropped on the wire, as JSON.stringify drops them.
 */
export function checkOutput(value: unknown): void {
  const seen = new Set<object>();
  const visit = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return;
    if (typeof v !== 'object') throw invalid(path, `is a ${typeof v}`);
    if (depth > MAX_DEPTH) throw invalid(path, `is nested deeper than ${MAX_DEPTH} levels`);
    if (seen.has(v)) throw invalid(path, 'refers back to itself');
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (v[i] === undefined) throw invalid(`${path}[${i}]`, 'is undefined');
        visit(v[i], `${path}[${i}]`, depth + 1);
      }
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw invalid(path, `is a ${v.constructor?.name ?? 'non-plain object'}, not a plain object`);
      }
      for (const [key, item] of Object.entries(v)) {
        if (item !== undefined) visit(item, `${path}.${key}`, depth + 1);
      }
    }
    seen.delete(v);
  };
  if (value !== undefined) visit(value, 'output', 0);
}

function invalid(path: string, why: string): Error {
  return new Error(`${path} ${why}; a task must return JSON values`);
}
