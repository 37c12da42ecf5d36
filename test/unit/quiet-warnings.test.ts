import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { suppressIpServernameWarning } from '../../src/cli/quiet-warnings.js';

// eslint-disable-next-line @typescript-eslint/unbound-method -- kept only to put back on process, never called detached.
const original = process.emitWarning;
afterEach(() => {
  process.emitWarning = original;
});

async function warningsFrom(emit: () => void): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }): void => void seen.push(warning.code ?? warning.message);
  process.on('warning', listener);
  try {
    emit();
    await nextTurn();
    return seen;
  } finally {
    process.off('warning', listener);
  }
}

describe('suppressIpServernameWarning', () => {
  it('drops DEP0123 however it is emitted, and lets every other warning through', async () => {
    suppressIpServernameWarning();
    const seen = await warningsFrom(() => {
      process.emitWarning('Setting the TLS ServerName to an IP address is not permitted by RFC 6066.', 'DeprecationWarning', 'DEP0123');
      process.emitWarning('Setting the TLS ServerName to an IP address is not permitted by RFC 6066.', { type: 'DeprecationWarning', code: 'DEP0123' });
      process.emitWarning('something else', 'DeprecationWarning', 'DEP0999');
      process.emitWarning('plain');
    });
    expect(seen).toEqual(['DEP0999', 'plain']);
  });
});
