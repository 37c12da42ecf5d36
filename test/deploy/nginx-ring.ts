/**
 * Where nginx's `hash KEY consistent` (ngx_http_upstream_hash_module, 1.22)
 * sends a key: a ketama ring of 160 points per server (weight 1), each point
 * a crc32 of the server's address as written in its `server` line, chained
 * through the previous point; a key goes to the server of the first point at
 * or after crc32(key), and when that server is down or already tried, to the
 * server of the next point, and so on (up to 20 points, then round robin).
 * For test/deploy/nginx-jobs.test.ts, to choose job ids that land on a given
 * replica and to say where a drained replica's ids go.
 */

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The CRC-32 nginx uses (ngx_crc32_long): IEEE, reflected, as zlib's. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export interface Ring {
  /**
   * The server nginx sends `key` to while the servers in `unavailable` are
   * skipped (down, or already tried for the call); undefined when nginx would
   * give up on the ring and fall back to round robin (an empty key, or more
   * than 20 skipped points).
   */
  owner(key: string, unavailable?: ReadonlySet<string>): string | undefined;
}

/** The ring of `servers`, each as written in its `server` line ("127.0.0.1:50052"), all of weight 1. */
export function nginxConsistentHashRing(servers: readonly string[]): Ring {
  const points: { hash: number; server: string }[] = [];
  for (const server of servers) {
    const colon = server.lastIndexOf(':');
    const base = Buffer.from(`${server.slice(0, colon)}\0${server.slice(colon + 1)}`);
    let previous = 0;
    for (let j = 0; j < 160; j++) {
      const chained = Buffer.alloc(base.length + 4);
      base.copy(chained);
      chained.writeUInt32LE(previous, base.length);
      previous = crc32(chained);
      points.push({ hash: previous, server });
    }
  }
  points.sort((a, b) => a.hash - b.hash);
  const ring = points.filter((point, i) => i === 0 || point.hash !== points[i - 1]!.hash);

  return {
    owner(key, unavailable = new Set()) {
      if (key === '') return undefined;
      const hash = crc32(Buffer.from(key));
      // The first point at or after the key's hash (ngx_http_upstream_find_chash_point).
      let low = 0;
      let high = ring.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (ring[mid]!.hash < hash) low = mid + 1;
        else high = mid;
      }
      for (let tries = 0; tries <= 20; tries++) {
        const { server } = ring[(low + tries) % ring.length]!;
        if (!unavailable.has(server)) return server;
      }
      return undefined;
    },
  };
}
