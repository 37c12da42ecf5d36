/**
 * The shape of the tree the README describes: the loop side (src/) and the
 * pool side (workers/) meet only in bridge/, and files stay small enough to
 * hold one concern each.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAX_LINES = 250;

function sources(dir: string): string[] {
  return (readdirSync(join(root, dir), { recursive: true }) as string[])
    .filter((file) => /\.(ts|mts|mjs)$/.test(file) && !file.endsWith('.d.ts'))
    .map((file) => join(dir, file))
    .filter((file) => !file.startsWith(join('src', 'gen')));
}

const imports = (file: string): string[] => [...readFileSync(join(root, file), 'utf8').matchAll(/^(?:import|export) [^;]*? from '([^']+)';$/gm)].map((m) => m[1]!);
const resolvesInto = (file: string, specifier: string, dir: string): boolean =>
  specifier.startsWith('.') && !relative(join(root, dir), join(root, file, '..', specifier)).startsWith('..');

describe('the source tree', () => {
  it.each([...sources('src'), ...sources('workers'), ...sources('bridge')])(`keeps %s under ${MAX_LINES} lines`, (file) => {
    expect(readFileSync(join(root, file), 'utf8').split('\n').length).toBeLessThanOrEqual(MAX_LINES + 1);
  });

  it('lets the pool side import nothing from the loop side, and the loop side nothing from the pool side', () => {
    const crossings = [
      ...sources('workers').flatMap((file) => imports(file).filter((s) => resolvesInto(file, s, 'src')).map((s) => `${file} → ${s}`)),
      ...sources('src').flatMap((file) => imports(file).filter((s) => resolvesInto(file, s, 'workers')).map((s) => `${file} → ${s}`)),
    ];
    expect(crossings).toEqual([]);
  });

  it('keeps bridge/ to what both sides share: it imports from neither', () => {
    const outward = sources('bridge').flatMap((file) => imports(file).filter((s) => resolvesInto(file, s, 'src') || resolvesInto(file, s, 'workers')));
    expect(outward).toEqual([]);
  });
});
