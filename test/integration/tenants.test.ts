/**
 * Who is calling: the tenant of the call's token, or, without auth, of its
 * `offload-tenant` metadata, as the call log line's `tenant` shows it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannel, createClient, Metadata } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Errors } from '../../src/errors.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { fixtureTasksDir } from '../helpers/start-server.js';

const COMPUTE = '/offload.v1.ComputeService/';
const TEAM_A_TOKEN = 'team-a-secret-5f1c9e2d7b';
const BARE_TOKEN = 'bare-secret-0a7e33c1d4';

let dir: string;
let server: ComputeServer;
let client: ComputeClient;
let close: () => void;
let log: ReturnType<typeof captureLogger>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'offload-tenants-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));
afterEach(async () => {
  close();
  await server.close();
});

async function start(flags: string[] = []): Promise<void> {
  log = captureLogger();
  server = await createComputeServer(loadConfig(['--port', '0', '--workers', '1', '--tasks', fixtureTasksDir, ...flags], {}), { logger: log.logger });
  ({ client, close } = connect(server.address));
}

async function startWithTokens(): Promise<void> {
  const tokenFile = join(dir, 'tokens');
  await writeFile(tokenFile, `team-a:${TEAM_A_TOKEN}:3\n${BARE_TOKEN}\n`);
  await start(['--auth-token-file', tokenFile]);
}

const as = (headers: Record<string, string>) => ({ metadata: Metadata(headers) });
const bearer = (token: string, headers: Record<string, string> = {}) => as({ authorization: `Bearer ${token}`, ...headers });

/** The call log lines of one method, in the order the calls ended. */
const logged = (method: string): Record<string, unknown>[] => log.lines.filter((l) => l['method'] === COMPUTE + method);

describe('the tenant of a call with auth', () => {
  it('is the name of its token, and a bare token is the default tenant', async () => {
    await startWithTokens();
    await client.run({ task: 'echo', input: 1 }, bearer(TEAM_A_TOKEN));
    await client.run({ task: 'echo', input: 2 }, bearer(BARE_TOKEN));
    expect(logged('Run').map((l) => l['tenant'])).toEqual(['team-a', 'default']);
  });

  it('ignores the offload-tenant header, even one that is not a tenant name: the token decides', async () => {
    await startWithTokens();
    await client.run({ task: 'echo', input: 1 }, bearer(TEAM_A_TOKEN, { 'offload-tenant': 'team-b' }));
    await client.submit({ task: 'echo', input: 1, jobId: 'header-ignored' }, bearer(BARE_TOKEN, { 'offload-tenant': 'bad tenant!' }));
    expect(logged('Run')[0]).toMatchObject({ tenant: 'team-a', code: 'OK' });
    expect(logged('Submit')[0]).toMatchObject({ tenant: 'default', code: 'OK' });
  });

  it('logs the tenant name but never its token', async () => {
    await startWithTokens();
    await client.run({ task: 'echo', input: 1 }, bearer(TEAM_A_TOKEN));
    await rejection(client.run({ task: 'nope' }, bearer(TEAM_A_TOKEN)));
    await client.submit({ task: 'echo', input: 1, jobId: 'quiet-token' }, bearer(TEAM_A_TOKEN));
    expect(log.text()).toContain('"tenant":"team-a"');
    expect(log.text()).not.toContain(TEAM_A_TOKEN);
    expect(log.text()).not.toContain(BARE_TOKEN);
  });
});

describe('the tenant of a call without auth', () => {
  it('is the offload-tenant header, or default when there is none', async () => {
    await start();
    await client.run({ task: 'echo', input: 1 }, as({ 'offload-tenant': 'team-a' }));
    await client.run({ task: 'echo', input: 2 });
    await client.submit({ task: 'echo', input: 3, jobId: 'tenant-submit' }, as({ 'offload-tenant': 'Team_B.2' }));
    expect(logged('Run').map((l) => l['tenant'])).toEqual(['team-a', 'default']);
    expect(logged('Submit')[0]).toMatchObject({ tenant: 'Team_B.2', code: 'OK' });
  });

  it.each([
    ['a name with a space and a "!"', 'bad tenant!'],
    ['a name of 65 characters', 'n'.repeat(65)],
    ['an empty name', ''],
  ])('answers INVALID_ARGUMENT to %s, on Run, RunStream and Submit', async (_what, tenant) => {
    await start();
    const run = await rejection(client.run({ task: 'echo', input: 1 }, as({ 'offload-tenant': tenant })));
    const stream = await rejection(collect(client.runStream({ task: 'echo', input: 1 }, as({ 'offload-tenant': tenant }))));
    const submit = await rejection(client.submit({ task: 'echo', input: 1, jobId: 'bad-tenant' }, as({ 'offload-tenant': tenant })));
    for (const error of [run, stream, submit]) expect(error).toMatchObject({ code: Errors.invalidTenant.code, details: Errors.invalidTenant.message });
    expect(logged('Run')[0]).toMatchObject({ code: 'INVALID_ARGUMENT', message: Errors.invalidTenant.message });
    expect(logged('RunStream')[0]).toMatchObject({ code: 'INVALID_ARGUMENT', message: Errors.invalidTenant.message });
    expect(logged('Submit')[0]).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Refused before it reached the store: the id is free.
    await expect(client.getJob({ jobId: 'bad-tenant' })).rejects.toMatchObject({ code: Errors.unknownJob('bad-tenant').code });
  });

  it('is set for every ComputeService method', async () => {
    await start();
    const team = as({ 'offload-tenant': 'team-c' });
    await client.run({ task: 'echo', input: 1 }, team);
    await collect(client.runStream({ task: 'echo', input: 1 }, team));
    await collect(client.runBatch((async function* () {
      yield { id: '1', task: 'echo', input: 1 };
    })(), team));
    await client.listTasks({}, team);
    await client.submit({ task: 'echo', input: 1, jobId: 'every-method' }, team);
    await collect(client.watch({ jobId: 'every-method' }, team));
    await client.getJob({ jobId: 'every-method' }, team);
    await client.cancelJob({ jobId: 'every-method' }, team);
    const methods = ['Run', 'RunStream', 'RunBatch', 'ListTasks', 'Submit', 'Watch', 'GetJob', 'CancelJob'];
    await eventually(() => expect(methods.map((m) => logged(m)[0]?.['tenant'])).toEqual(methods.map(() => 'team-c')));
  });

  it("owns its jobs: another tenant's GetJob, Watch and CancelJob answer NOT_FOUND, and its Submit of the same id makes a job of its own", async () => {
    await start();
    const [a, b] = [as({ 'offload-tenant': 'team-a' }), as({ 'offload-tenant': 'team-b' })];
    await client.submit({ task: 'echo', input: 'a', jobId: 'shared-id' }, a);
    const notFound = { code: Errors.unknownJob('shared-id').code, details: Errors.unknownJob('shared-id').message };
    await expect(client.getJob({ jobId: 'shared-id' }, b)).rejects.toMatchObject(notFound);
    await expect(collect(client.watch({ jobId: 'shared-id' }, b))).rejects.toMatchObject(notFound);
    await expect(client.cancelJob({ jobId: 'shared-id' }, b)).rejects.toMatchObject(notFound);
    await expect(client.getJob({ jobId: 'shared-id' })).rejects.toMatchObject(notFound);
    // A different request under the same id is not ALREADY_EXISTS for team-b: the id is free in its namespace.
    const mine = await client.submit({ task: 'echo', input: 'b', jobId: 'shared-id' }, b);
    expect(mine.created).toBe(true);
    const outputs = await Promise.all([a, b].map(async (tenant) => {
      await eventually(async () => expect((await client.getJob({ jobId: 'shared-id' }, tenant)).job?.result).toBeDefined());
      return (await client.getJob({ jobId: 'shared-id' }, tenant)).job?.result?.output as unknown;
    }));
    expect(outputs).toEqual(['a', 'b']);
  });

  it('is not asked of health checks: a bad header does not fail a probe', async () => {
    await start();
    const channel = createChannel(server.address);
    try {
      const health = createClient(HealthDefinition, channel);
      expect(await health.check({ service: '' }, as({ 'offload-tenant': 'bad tenant!' }))).toMatchObject({ status: 1 }); // SERVING
    } finally {
      channel.close();
    }
  });
});
