import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { defaultWorkerHeapMb, readMemoryLimit } from '../../src/memory-limit.js';

const MB = 2 ** 20;

/** A fake /sys/fs/cgroup and /proc/self/cgroup: files by path. */
function fakeCgroup(files: Record<string, string>): { root: string; self: string } {
  const dir = mkdtempSync(join(tmpdir(), 'offload-cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return { root: join(dir, 'sys/fs/cgroup'), self: join(dir, 'proc/self/cgroup') };
}

describe('readMemoryLimit', () => {
  it("reads cgroup v2's memory.max of the process's own cgroup", () => {
    const { root, self } = fakeCgroup({ 'proc/self/cgroup': '0::/kubepods/pod1/c1\n', 'sys/fs/cgroup/kubepods/pod1/c1/memory.max': '1073741824\n' });
    expect(readMemoryLimit(root, self)).toBe(1024 * MB);
  });

  it('reads the namespace root inside a container, where the process sits at /', () => {
    const { root, self } = fakeCgroup({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/memory.max': '536870912\n' });
    expect(readMemoryLimit(root, self)).toBe(512 * MB);
  });

  it('sees no limit in "max"', () => {
    const { root, self } = fakeCgroup({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/memory.max': 'max\n' });
    expect(readMemoryLimit(root, self)).toBeUndefined();
  });

  it("reads cgroup v1's memory.limit_in_bytes, and sees no limit in its page-rounded 2^63", () => {
    const limited = fakeCgroup({ 'proc/self/cgroup': '4:memory:/docker/abc\n0::/\n', 'sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes': '2147483648\n' });
    expect(readMemoryLimit(limited.root, limited.self)).toBe(2048 * MB);
    const unlimited = fakeCgroup({ 'proc/self/cgroup': '4:memory:/\n', 'sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' });
    expect(readMemoryLimit(unlimited.root, unlimited.self)).toBeUndefined();
  });

  it('sees no limit where there is no cgroup file at all', () => {
    const { root, self } = fakeCgroup({});
    expect(readMemoryLimit(root, self)).toBeUndefined();
  });
});

describe('defaultWorkerHeapMb', () => {
  it.each([
    [undefined, 2, 0],
    [1024 * MB, 2, 384],
    [8192 * MB, 4, 1536],
    [512 * MB, 2, 128],
    [256 * MB, 4, 64],
  ])('gives a %s-byte limit with %s workers %s MB per worker', (limit, workers, expected) => {
    expect(defaultWorkerHeapMb(limit, workers)).toBe(expected);
  });
});

describe('the worker heap limit in the configuration', () => {
  it("is derived from the container's memory limit when not given", () => {
    expect(loadConfig(['--workers', '2'], {}, { memoryLimitBytes: 1024 * MB })).toMatchObject({ workerMaxMemoryMb: 384, memoryLimitMb: 1024 });
  });

  it('is what the flag or variable says, 0 included, whatever the limit', () => {
    expect(loadConfig(['--worker-max-memory-mb', '0'], {}, { memoryLimitBytes: 1024 * MB }).workerMaxMemoryMb).toBe(0);
    expect(loadConfig([], { OFFLOAD_WORKER_MAX_MEMORY_MB: '200' }, { memoryLimitBytes: 1024 * MB }).workerMaxMemoryMb).toBe(200);
  });

  it("is V8's default without a limit", () => {
    expect(loadConfig([], {}, { memoryLimitBytes: undefined }).workerMaxMemoryMb).toBe(0);
  });
});
