/**
 * SHA-256 of request bytes without blocking the event loop on large ones:
 * WebCrypto digests on libuv's thread pool. Small inputs are hashed in place,
 * where a hop to the pool would cost more than the hash.
 */
import { createHash, webcrypto } from 'node:crypto';

const IN_PLACE_BYTES = 64 * 1024;

export async function sha256(data: Uint8Array): Promise<Buffer> {
  if (data.byteLength <= IN_PLACE_BYTES) return createHash('sha256').update(data).digest();
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data));
}
