import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';

export const fixtureTasksDir = fileURLToPath(new URL('../fixtures/tasks', import.meta.url));
export const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts a real offload server in this process on a free loopback port, with
 * the bundled tasks plus the fixture tasks. Flags as on the command line.
 */
export async function startServer(flags: string[] = []): Promise<ComputeServer> {
  const config = loadConfig(['--port', '0', '--workers', '2', '--tasks', fixtureTasksDir, ...flags], {});
  return createComputeServer(config);
}
