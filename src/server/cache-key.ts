/**
 * What makes two requests identical for a cacheable task: its name, its
 * declared version, the input after schema defaults (as canonical JSON)
 * and the SHA-256 of the data. The data is hashed before the request is
 * admitted, since its buffer then moves to a worker.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { sha256 } from './digest.js';

export async function cacheKey(task: { name: string; version: string }, input: unknown, data: Uint8Array): Promise<string> {
  const dataDigest = await sha256(data);
  return createHash('sha256').update(task.name).update('\0').update(task.version).update('\0').update(canonicalJson(input)).update('\0').update(dataDigest).digest('base64url');
}
