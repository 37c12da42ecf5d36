/**
 * The container's memory limit, and the worker heap cap offload derives from
 * it when none is given: a runaway task should fail alone (its worker hits
 * its heap cap) before the whole container is OOM-killed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Left for the event loop thread, buffers and native memory: a quarter of the limit, at least 256 MB. */
const RESERVE_FRACTION = 4;
const MIN_RESERVE_MB = 256;
/** Below this a worker cannot even load its tasks. */
const MIN_WORKER_HEAP_MB = 64;

/**
 * This process's cgroup memory limit in bytes (cgroup v2 `memory.max`, or
 * v1 `memory.limit_in_bytes`), or undefined when it has none.
 */
export function readMemoryLimit(root = '/sys/fs/cgroup', selfCgroup = '/proc/self/cgroup'): number | undefined {
  const membership = readText(selfCgroup) ?? '';
  const v2 = /^0::(\/.*)$/m.exec(membership)?.[1];
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(\/.*)$/m.exec(membership)?.[1];
  const candidates = [
    ...(v2 ? [join(root, v2, 'memory.max')] : []),
    join(root, 'memory.max'),
    ...(v1 ? [join(root, 'memory', v1, 'memory.limit_in_bytes')] : []),
    join(root, 'memory', 'memory.limit_in_bytes'),
  ];
  for (const file of candidates) {
    const text = readText(file)?.trim();
    if (text === undefined) continue;
    if (text === 'max') return undefined;
    const bytes = Number(text);
    // cgroup v1 writes "no limit" as a page-rounded 2^63 - 1.
    return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
  }
  return undefined;
}

/** The default heap cap per worker: (limit − max(256 MB, limit / 4)) / workers, at least 64 MB; 0 (V8's default) without a limit. */
export function defaultWorkerHeapMb(limitBytes: number | undefined, workers: number): number {
  if (limitBytes === undefined) return 0;
  const limitMb = Math.floor(limitBytes / 2 ** 20);
  const reserveMb = Math.max(MIN_RESERVE_MB, Math.ceil(limitMb / RESERVE_FRACTION));
  return Math.max(MIN_WORKER_HEAP_MB, Math.floor((limitMb - reserveMb) / workers));
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
