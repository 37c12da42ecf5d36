/**
 * What makes two requests identical: for a cacheable task, its name, its
 * declared version, the input after schema defaults (as canonical JSON) and
 * the SHA-256 of the data; for a repeated Submit, the task's name and the
 * input as sent. The data is hashed before the request is admitted, since
 * its buffer then moves to a worker.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { sha256 } from './digest.js';

/** One digest of the fields (none may hold a NUL), the input as canonical JSON and the data's own SHA-256. */
export async function requestDigest(fields: readonly string[], input: unknown, data: Uint8Array): Promise<string> {
  const dataDigest = await sha256(data);
  const hash = createHash('sha256');
  for (const field of fields) hash.update(field).update('\0');
  return hash.update(canonicalJson(input)).update('\0').update(dataDigest).digest('base64url');
}

export function cacheKey(task: { name: string; version: string }, input: unknown, data: Uint8Array): Promise<string> {
  return requestDigest([task.name, task.version], input, data);
}
