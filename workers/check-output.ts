const MAX_DEPTH = 512;

/**
 * Checks that a task's output can become a google.protobuf.Value, so a bad
 * return fails its own call with a clear message instead of failing to cross
 * the thread boundary or the wire, and estimates its encoded size so an
 * oversized result fails alone. Object properties that are undefined are
 * dropped on the wire, as JSON.stringify drops them.
 */
export function checkOutput(value: unknown): { bytes: number } {
  const seen = new Set<object>();
  // Protobuf Value sizes: a tag and a length or a fixed 8 bytes, plus the payload.
  let bytes = 0;
  const visit = (v: unknown, path: string, depth: number): void => {
    if (typeof v === 'string') {
      bytes += v.length + 6;
      return;
    }
    if (v === null || typeof v === 'boolean' || typeof v === 'number') {
      bytes += 10;
      return;
    }
    bytes += 6;
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
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw invalid(path, `is a ${v.constructor?.name ?? 'non-plain object'}, not a plain object`);
      }
      for (const [key, item] of Object.entries(v)) {
        if (item === undefined) continue;
        bytes += key.length + 8;
        visit(item, `${path}.${key}`, depth + 1);
      }
    }
    seen.delete(v);
  };
  if (value !== undefined) visit(value, 'output', 0);
  return { bytes };
}

function invalid(path: string, why: string): Error {
  return new Error(`${path} ${why}; a task must return JSON values`);
}
