import { Client as GrpcClient, credentials, Metadata as GrpcMetadata, status as GrpcStatus, type ChannelCredentials } from '@grpc/grpc-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createChannel, createClientFactory, Metadata, Status } from 'nice-grpc';
import { deadlineMiddleware } from 'nice-grpc-client-middleware-deadline';
import { HealthDefinition } from 'nice-grpc-server-health';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ComputeServiceDefinition } from '../../src/gen/offload/v1/compute.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { collect, rejection } from '../helpers/client.js';
import { startServer } from '../helpers/start-server.js';

const clients = createClientFactory().use(deadlineMiddleware);
const soon = (): Date => new Date(Date.now() + 10_000);
const bearer = (token: string): Metadata => Metadata({ authorization: `Bearer ${token}` });

/** Compute and health clients on one channel, plaintext unless credentials are given. */
function open(address: string, channelCredentials?: ChannelCredentials) {
  const channel = createChannel(address, channelCredentials ?? credentials.createInsecure());
  return {
    compute: clients.create(ComputeServiceDefinition, channel),
    health: clients.create(HealthDefinition, channel),
    close: () => channel.close(),
  };
}

type Opened = ReturnType<typeof open>;

/** Runs `fn` with a fresh channel and always closes it. */
async function using<T>(address: string, channelCredentials: ChannelCredentials | undefined, fn: (c: Opened) => Promise<T>): Promise<T> {
  const opened = open(address, channelCredentials);
  try {
    return await fn(opened);
  } finally {
    opened.close();
  }
}

/** One echo Run; resolves to its output. */
async function echo(c: Opened, metadata?: Metadata): Promise<unknown> {
  const { result } = await c.compute.run({ task: 'echo', input: { hello: 'tls' } }, { deadline: soon(), ...(metadata ? { metadata } : {}) });
  return result?.output;
}

const REFLECTION_V1 = '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo';
const REFLECTION_V1ALPHA = '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo';
/** ServerReflectionRequest { list_services: "" } (field 7, length-delimited). */
const LIST_SERVICES = Buffer.from([0x3a, 0x00]);

/**
 * Asks reflection to list services through a bare grpc-js client (as grpcurl
 * would), by method path; resolves to the final status and the raw responses.
 */
function listServices(address: string, path: string, token?: string): Promise<{ code: number; details: string; responses: Buffer[] }> {
  const client = new GrpcClient(address, credentials.createInsecure());
  const metadata = new GrpcMetadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  const call = client.makeBidiStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, metadata, { deadline: soon() });
  const responses: Buffer[] = [];
  return new Promise((resolve) => {
    call.on('data', (b: Buffer) => responses.push(b));
    call.on('error', () => {}); // the status event reports it
    call.on('status', ({ code, details }) => {
      client.close();
      resolve({ code, details, responses });
    });
    call.write(LIST_SERVICES);
    call.end();
  });
}

let certs: TestCertificates;
beforeAll(async () => {
  certs = await createTestCertificates();
});
afterAll(async () => certs?.cleanup());

describe('TLS', () => {
  let server: ComputeServer;
  beforeAll(async () => {
    server = await startServer(['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path]);
  });
  afterAll(async () => server?.close());

  it('runs a task for a client that trusts the CA', async () => {
    const output = await using(server.address, credentials.createSsl(certs.ca.cert.pem), echo);
    expect(output).toEqual({ hello: 'tls' });
  });

  it('answers health checks over TLS', async () => {
    const response = await using(server.address, credentials.createSsl(certs.ca.cert.pem), (c) =>
      c.health.check({ service: '' }, { deadline: soon() }),
    );
    expect(response.status).toBe(1); // SERVING
  });

  it('verifies the server by its DNS name, localhost, too', async () => {
    const channel = createChannel(server.address, credentials.createSsl(certs.ca.cert.pem), { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      const { result } = await clients.create(ComputeServiceDefinition, channel).run({ task: 'echo', input: 1 }, { deadline: soon() });
      expect(result?.output).toBe(1);
    } finally {
      channel.close();
    }
  });

  it('refuses a plaintext client with UNAVAILABLE', async () => {
    const error = await using(server.address, undefined, (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAVAILABLE);
  });

  it('refuses a client that trusts only another CA with UNAVAILABLE', async () => {
    const error = await using(server.address, credentials.createSsl(certs.untrustedCa.cert.pem), (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAVAILABLE);
    expect(error.details).toMatch(/certificate/);
  });
});

describe('mutual TLS', () => {
  let server: ComputeServer;
  beforeAll(async () => {
    server = await startServer([
      '--tls-cert', certs.server.cert.path,
      '--tls-key', certs.server.key.path,
      '--tls-client-ca', certs.ca.cert.path,
    ]);
  });
  afterAll(async () => server?.close());

  it('runs a task for a client with a certificate signed by the client CA', async () => {
    const tls = credentials.createSsl(certs.ca.cert.pem, certs.client.key.pem, certs.client.cert.pem);
    expect(await using(server.address, tls, echo)).toEqual({ hello: 'tls' });
  });

  it('refuses a client that presents no certificate with UNAVAILABLE', async () => {
    const error = await using(server.address, credentials.createSsl(certs.ca.cert.pem), (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAVAILABLE);
    expect(error.details).toMatch(/certificate required/); // the server's TLS alert
  });

  it('refuses a client whose certificate comes from an untrusted CA with UNAVAILABLE', async () => {
    const tls = credentials.createSsl(certs.ca.cert.pem, certs.untrustedClient.key.pem, certs.untrustedClient.cert.pem);
    const error = await using(server.address, tls, (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAVAILABLE);
  });

  it('refuses a plaintext client with UNAVAILABLE', async () => {
    const error = await using(server.address, undefined, (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAVAILABLE);
  });
});

describe('bearer tokens', () => {
  const ALPHA = 'alpha-token-7d1e9c0b5f';
  const BRAVO = 'bravo-token-42ab0f9e13';
  const WRONG = 'wrong-token-c0ffee1234';
  const lines: string[] = [];
  let server: ComputeServer;

  beforeAll(async () => {
    const tokenFile = join(certs.dir, 'tokens');
    await writeFile(tokenFile, `# offload tokens\n\n${ALPHA}\n  ${BRAVO}  \r\n# retired: not-a-token\n`);
    const config = loadConfig(['--port', '0', '--workers', '1', '--auth-token-file', tokenFile], {});
    expect(config.auth.map((entry) => entry.token)).toEqual([ALPHA, BRAVO]);
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    server = await createComputeServer(config, { logger });
  });
  afterAll(async () => server?.close());

  it('accepts the right token on Run and ListTasks', async () => {
    await using(server.address, undefined, async (c) => {
      expect(await echo(c, bearer(ALPHA))).toEqual({ hello: 'tls' });
      const { tasks } = await c.compute.listTasks({}, { metadata: bearer(ALPHA), deadline: soon() });
      expect(tasks.map((t) => t.name)).toContain('echo');
    });
  });

  it('accepts every token in the token file', async () => {
    await using(server.address, undefined, async (c) => {
      expect(await echo(c, bearer(ALPHA))).toEqual({ hello: 'tls' });
      expect(await echo(c, bearer(BRAVO))).toEqual({ hello: 'tls' });
    });
  });

  it('accepts the scheme in any case and more than one space after it', async () => {
    await using(server.address, undefined, async (c) => {
      expect(await echo(c, Metadata({ authorization: `bearer ${BRAVO}` }))).toEqual({ hello: 'tls' });
      expect(await echo(c, Metadata({ authorization: `Bearer  ${BRAVO}` }))).toEqual({ hello: 'tls' });
    });
  });

  it('answers UNAUTHENTICATED to compute calls with a wrong token', async () => {
    await using(server.address, undefined, async (c) => {
      const run = await rejection(echo(c, bearer(WRONG)));
      expect(run).toMatchObject({ code: Status.UNAUTHENTICATED, details: 'invalid bearer token' });
      const list = await rejection(c.compute.listTasks({}, { metadata: bearer(WRONG), deadline: soon() }));
      expect(list).toMatchObject({ code: Status.UNAUTHENTICATED, details: 'invalid bearer token' });
      // RunStream has offload's own grpc-js handler, not nice-grpc's: the same check.
      const stream = await rejection(collect(c.compute.runStream({ task: 'echo', input: 1 }, { metadata: bearer(WRONG), deadline: soon() })));
      expect(stream).toMatchObject({ code: Status.UNAUTHENTICATED, details: 'invalid bearer token' });
      const streamed = await collect(c.compute.runStream({ task: 'echo', input: 1 }, { metadata: bearer(BRAVO), deadline: soon() }));
      expect(streamed.at(-1)?.result?.output).toEqual(1);
    });
  });

  it('answers UNAUTHENTICATED to a token sent without the Bearer scheme, or a prefix of a token', async () => {
    await using(server.address, undefined, async (c) => {
      for (const authorization of [ALPHA, `Basic ${ALPHA}`, `Bearer ${ALPHA.slice(0, -1)}`, `Bearer ${ALPHA}x`, 'Bearer ', `Bearer ${ALPHA} ${BRAVO}`]) {
        const error = await rejection(echo(c, Metadata({ authorization })));
        expect(error.code, authorization).toBe(Status.UNAUTHENTICATED);
      }
    });
  });

  it('answers UNAUTHENTICATED to compute calls with no token', async () => {
    await using(server.address, undefined, async (c) => {
      const run = await rejection(echo(c));
      expect(run.code).toBe(Status.UNAUTHENTICATED);
      expect(run.details).toMatch(/missing credentials/);
      const list = await rejection(c.compute.listTasks({}, { deadline: soon() }));
      expect(list.code).toBe(Status.UNAUTHENTICATED);
      const stream = await rejection(collect(c.compute.runStream({ task: 'echo', input: 1 }, { deadline: soon() })));
      expect(stream.code).toBe(Status.UNAUTHENTICATED);
      expect(stream.details).toMatch(/missing credentials/);
    });
  });

  it.each([
    ['v1', REFLECTION_V1],
    ['v1alpha', REFLECTION_V1ALPHA],
  ])('answers UNAUTHENTICATED to reflection %s with a wrong token or none, and lists services with the right one', async (_, path) => {
    expect(await listServices(server.address, path)).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, responses: [] });
    expect(await listServices(server.address, path, WRONG)).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, responses: [] });
    const allowed = await listServices(server.address, path, ALPHA);
    expect(allowed.code).toBe(GrpcStatus.OK);
    expect(Buffer.concat(allowed.responses).toString('latin1')).toContain('offload.v1.ComputeService');
  });

  it('answers health checks without a token', async () => {
    const response = await using(server.address, undefined, (c) => c.health.check({ service: '' }, { deadline: soon() }));
    expect(response.status).toBe(1); // SERVING
    const compute = await using(server.address, undefined, (c) =>
      c.health.check({ service: ComputeServiceDefinition.fullName }, { deadline: soon() }),
    );
    expect(compute.status).toBe(1);
  });

  it('keeps every token, right or wrong, out of the server log', async () => {
    await using(server.address, undefined, async (c) => {
      await echo(c, bearer(ALPHA));
      await c.compute.listTasks({}, { metadata: bearer(BRAVO), deadline: soon() });
      await rejection(echo(c, bearer(WRONG)));
      await rejection(echo(c, Metadata({ authorization: WRONG })));
      await rejection(c.compute.run({ task: 'nope' }, { metadata: bearer(ALPHA), deadline: soon() }));
      await c.health.check({ service: '' }, { metadata: bearer(ALPHA), deadline: soon() });
    });
    await listServices(server.address, REFLECTION_V1, ALPHA);
    await listServices(server.address, REFLECTION_V1ALPHA, WRONG);

    const log = lines.join('');
    // The calls above really were logged: one line per call, with code and peer.
    const calls = lines.map((l) => JSON.parse(l) as { method?: string; code?: string; peer?: string }).filter((l) => l.method);
    expect(calls.filter((l) => l.code === 'UNAUTHENTICATED').length).toBeGreaterThanOrEqual(3);
    expect(calls.some((l) => l.method === '/offload.v1.ComputeService/ListTasks' && l.code === 'OK')).toBe(true);
    expect(calls.some((l) => l.method === REFLECTION_V1ALPHA && l.code === 'UNAUTHENTICATED')).toBe(true);
    expect(calls.every((l) => typeof l.peer === 'string')).toBe(true);
    for (const token of [ALPHA, BRAVO, WRONG]) expect(log).not.toContain(token);
    expect(log).not.toMatch(/"authorization"\s*:/i); // no metadata either
  });
});

describe('TLS and bearer tokens together', () => {
  const TOKEN = 'tls-and-token-9a8b7c';
  let server: ComputeServer;
  beforeAll(async () => {
    const tokenFile = join(certs.dir, 'tls-tokens');
    await writeFile(tokenFile, `${TOKEN}\n`);
    server = await startServer([
      '--tls-cert', certs.server.cert.path,
      '--tls-key', certs.server.key.path,
      '--tls-client-ca', certs.ca.cert.path,
      '--auth-token-file', tokenFile,
    ]);
  });
  afterAll(async () => server?.close());

  it('still requires the token from a client with a valid certificate', async () => {
    const tls = (): ChannelCredentials => credentials.createSsl(certs.ca.cert.pem, certs.client.key.pem, certs.client.cert.pem);
    expect(await using(server.address, tls(), (c) => echo(c, bearer(TOKEN)))).toEqual({ hello: 'tls' });
    const error = await using(server.address, tls(), (c) => rejection(echo(c)));
    expect(error.code).toBe(Status.UNAUTHENTICATED);
  });
});
