/**
 * Servers, clients and proxies a test opens, closed after it (newest
 * first), so a failing assertion never leaves one running for the next test.
 */
import { afterEach, expect } from 'vitest';
import { createComputeClient, OffloadError, type ComputeClient } from '../../src/index.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { startServer } from './start-server.js';

export interface Closing {
  close(): void | Promise<void>;
}

export function closedAfterEach() {
  const opened: Closing[] = [];
  afterEach(async () => {
    for (const thing of opened.splice(0).reverse()) await thing.close();
  });
  const track = <T extends Closing>(thing: T): T => {
    opened.push(thing);
    return thing;
  };
  return {
    track,
    server: async (flags: string[] = []): Promise<ComputeServer> => track(await startServer(flags)),
    client: (...args: Parameters<typeof createComputeClient>): ComputeClient => track(createComputeClient(...args)),
  };
}

/** The OffloadError a call failed with; fails the test if it succeeded or failed otherwise. */
export async function offloadFailure(promise: Promise<unknown>): Promise<OffloadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OffloadError);
  return error as OffloadError;
}
