import { afterAll, afterEach, beforeAll } from 'vitest';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { connect, type ComputeClient } from './client.js';
import { startServer } from './start-server.js';

export interface TestServer {
  server: ComputeServer;
  client: ComputeClient;
}

async function open(flags: string[]): Promise<TestServer & { close: () => Promise<void> }> {
  const server = await startServer(flags);
  const { client, close } = connect(server.address);
  return { server, client, close: async () => (close(), await server.close()) };
}

/** One server and client for every test in the file. */
export function useSharedServer(flags: string[] = []): TestServer {
  const current = {} as TestServer & { close?: () => Promise<void> };
  beforeAll(async () => void Object.assign(current, await open(flags)));
  afterAll(async () => current.close?.());
  return current;
}

/** A fresh server per test, started by the test with its own flags. */
export function useServerPerTest(): TestServer & { start: (flags?: string[]) => Promise<void> } {
  let close: (() => Promise<void>) | undefined;
  const current = {
    async start(flags: string[] = []) {
      const opened = await open(flags);
      close = opened.close;
      Object.assign(current, { server: opened.server, client: opened.client });
    },
  } as TestServer & { start: (flags?: string[]) => Promise<void> };
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  return current;
}
