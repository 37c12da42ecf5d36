import { vi } from 'vitest';

/**
 * Retries an assertion until it holds. The default timeout is generous on
 * purpose: CI shares two cores with every other test file, so starting a
 * worker or a child process can take seconds; a real failure still fails.
 */
export function eventually<T>(assertion: () => T | Promise<T>, timeout = 15_000): Promise<T> {
  return vi.waitFor(assertion, { timeout, interval: 20 });
}
