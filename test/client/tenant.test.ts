/**
 * The client's `tenant` option: sent as `offload-tenant` metadata on every
 * call, job calls routed to their replica included, and checked before any
 * call is made.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeClient, OffloadError, Status } from '../../src/index.js';
import { Errors } from '../../src/errors.js';
import { createComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';
import { eventually } from '../helpers/eventually.js';

const { client, track } = closedAfterEach();

/** A server whose call log lines the test can read. */
async function loggedServer() {
  const log = captureLogger();
  const server = track(await createComputeServer(loadConfig(['--port', '0', '--workers', '1'], {}), { logger: log.logger }));
  return { server, log };
}

/** The tenant of each ComputeService call these servers logged, by method name. */
function tenantsByMethod(logs: ReturnType<typeof captureLogger>[]): Record<string, unknown[]> {
  const byMethod: Record<string, unknown[]> = {};
  for (const line of logs.flatMap((log) => log.lines)) {
    const method = /^\/offload\.v1\.ComputeService\/(\w+)$/.exec(String(line['method']))?.[1];
    if (method) (byMethod[method] ??= []).push(line['tenant']);
  }
  return byMethod;
}

describe('the client\'s tenant option', () => {
  it('is sent on every call, job calls over several replicas included', async () => {
    const [a, b] = [await loggedServer(), await loggedServer()];
    const c = client(`ipv4:127.0.0.1:${a.server.port},127.0.0.1:${b.server.port}`, { tenant: 'team-a' });
    await c.run('echo', 1);
    for await (const event of c.runStream('echo', 2)) void event;
    for await (const event of c.runBatch([{ id: 'x', task: 'echo', input: 3 }])) void event;
    await c.listTasks();
    const job = await c.submit('echo', 4, { jobId: 'tenant-job' });
    await job.result();
    await c.job('tenant-job').get();
    await c.job('tenant-job').cancel();
    await eventually(() => {
      const tenants = tenantsByMethod([a.log, b.log]);
      expect(Object.keys(tenants).sort()).toEqual(['CancelJob', 'GetJob', 'ListTasks', 'Run', 'RunBatch', 'RunStream', 'Submit', 'Watch']);
      expect(new Set(Object.values(tenants).flat())).toEqual(new Set(['team-a']));
    });
  });

  it('is left out when not given, and the server counts the calls as the default tenant\'s', async () => {
    const { server, log } = await loggedServer();
    await client(server.address).run('echo', 1);
    expect(tenantsByMethod([log])['Run']).toEqual(['default']);
  });

  it.each(['bad tenant!', 'n'.repeat(65), ''])('refuses "%s" before any call, with INVALID_ARGUMENT', (tenant) => {
    let thrown: unknown;
    try {
      createComputeClient('127.0.0.1:1', { tenant });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OffloadError);
    expect(thrown).toMatchObject({ code: Status.INVALID_ARGUMENT, message: Errors.invalidTenant.message });
  });
});
