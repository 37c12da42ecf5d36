import { createServer, ServerError, Status, type CallContext } from 'nice-grpc';
import { describe, expect, it, vi } from 'vitest';
import { createComputeClient } from '../../src/index.js';
import { ComputeServiceDefinition, JobState, type ComputeServiceImplementation } from '../../src/gen/offload/v1/compute.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { createTestCertificates } from '../helpers/certificates.js';
import { connect } from '../helpers/client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';


// Only this file's resolver, as the client's job routing sees it, is faked: a made-up name, and
// localhost (the test certificate's name), each with two addresses, one replica on each.
const REPLICAS_NAME = 'replicas.offload.test';
vi.mock('node:dns/promises', async (original) => {
  const real = await original<typeof import('node:dns/promises')>();
  return {
    ...real,
    lookup: vi.fn(async (host: string, options: object) =>
      host === REPLICAS_NAME || host === 'localhost'
        ? [
            { address: '127.0.0.1', family: 4 },
            { address: '127.0.0.2', family: 4 },
          ]
        : real.lookup(host, { ...options, all: true }),
    ),
  };
});

const { server, client, track } = closedAfterEach();

/** The servers (by index) that hold each job, asked one by one with GetJob. */
async function holders(servers: ComputeServer[], ids: string[]): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>(ids.map((id) => [id, []]));
  for (const [index, s] of servers.entries()) {
    const { client: direct, close } = connect(s.address);
    try {
      for (const id of ids) {
        const held = await direct.getJob({ jobId: id }).then(
          () => true,
          () => false,
        );
        if (held) found.get(id)!.push(index);
      }
    } finally {
      close();
    }
  }
  return found;
}

describe('job calls over several replicas', () => {
  it('sends every call about a job to the replica its id hashes to: the same from two clients, and ids spread over all replicas', async () => {
    const servers = [await server(), await server(), await server()];
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    const first = client(`ipv4:${addresses.join(',')}`);
    const second = client(`ipv4:${[addresses[2], addresses[0], addresses[1]].join(',')}`);
    const ids = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
    for (const id of ids) await first.submit('echo', id, { jobId: id });

    const found = await holders(servers, ids);
    for (const id of ids) expect(found.get(id), id).toHaveLength(1);
    const perServer = servers.map((_, index) => ids.filter((id) => found.get(id)![0] === index).length);
    expect(perServer.every((count) => count > 0)).toBe(true);
    // The other client, with the list in another order, finds every job where it is.
    for (const id of ids) {
      expect(await second.job(id).result()).toMatchObject({ output: id });
      expect((await second.submit('echo', id, { jobId: id })).created).toBe(false);
    }
  });

  it('hashes over the addresses a dns: name resolves to', async () => {
    const one = await server(['--host', '127.0.0.1']);
    const two = await server(['--host', '127.0.0.2', '--port', String(one.port)]);
    const c = client(`dns:${REPLICAS_NAME}:${one.port}`);
    const ids = Array.from({ length: 20 }, (_, i) => `dns-spread-${i}`);
    for (const id of ids) await c.submit('echo', id, { jobId: id });
    const found = await holders([one, two], ids);
    for (const id of ids) expect(found.get(id), id).toHaveLength(1);
    expect(new Set(ids.map((id) => found.get(id)![0]))).toEqual(new Set([0, 1]));
    for (const id of ids) expect(await c.job(id).result()).toMatchObject({ output: id });
  });
});

describe('job calls over a dns: name with TLS', () => {
  it('dials each replica by its address and still checks the certificate against the name', async () => {
    const certs = await createTestCertificates();
    track({ close: () => certs.cleanup() });
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2: reaching the second replica needs the name.
    const tls = ['--tls-cert', certs.server.cert.path, '--tls-key', certs.server.key.path];
    const one = await server([...tls, '--host', '127.0.0.1']);
    const two = await server([...tls, '--host', '127.0.0.2', '--port', String(one.port)]);
    const c = createComputeClient(`dns:localhost:${one.port}`, { tls: { ca: certs.ca.cert.path } });
    track(c);
    const ids = Array.from({ length: 16 }, (_, i) => `tls-spread-${i}`);
    for (const id of ids) expect(await (await c.submit('echo', id, { jobId: id })).result()).toMatchObject({ output: id });
    const submits = await Promise.all([one, two].map((s) => countCalls(s, 'Submit')));
    expect(submits.every((count) => count > 0)).toBe(true);
    expect(submits[0]! + submits[1]!).toBe(ids.length);
  });
});

async function countCalls(s: ComputeServer, method: string): Promise<number> {
  const counted = await s.metrics.registry.getSingleMetric('offload_rpc_requests_total')!.get();
  return counted.values.filter((v) => v.labels['method'] === `/offload.v1.ComputeService/${method}`).reduce((sum, v) => sum + v.value, 0);
}

describe('what job calls tell a balancer', () => {
  it('names the job in offload-job-id metadata on Submit, Watch, GetJob and CancelJob', async () => {
    const seen: { method: string; jobId: string | undefined }[] = [];
    const note = (method: string, context: CallContext) => seen.push({ method, jobId: context.metadata.get('offload-job-id') });
    const job = (jobId: string) => ({ id: jobId, task: 'echo', state: JobState.JOB_STATE_SUCCEEDED, createdAt: new Date() });
    const unimplemented = (): never => {
      throw new ServerError(Status.UNIMPLEMENTED, 'not in this fake');
    };
    const fake: ComputeServiceImplementation = {
      run: unimplemented,
      runStream: unimplemented,
      runBatch: unimplemented,
      listTasks: unimplemented,
      async submit(request, context) {
        note('Submit', context);
        return { job: job(request.jobId), created: true };
      },
      async *watch(_request, context) {
        note('Watch', context);
        yield { result: { output: 1, data: Buffer.alloc(0), queuedMs: 0, runMs: 0 } };
      },
      async getJob(request, context) {
        note('GetJob', context);
        return { job: job(request.jobId) };
      },
      async cancelJob(request, context) {
        note('CancelJob', context);
        return { job: job(request.jobId) };
      },
    };
    const balancer = createServer();
    balancer.add(ComputeServiceDefinition, fake);
    const port = await balancer.listen('127.0.0.1:0');
    track({ close: () => balancer.forceShutdown() });

    const c = client(`127.0.0.1:${port}`);
    const submitted = await c.submit('echo', 1, { jobId: 'named-1' });
    await submitted.result();
    await submitted.get();
    await submitted.cancel();
    expect(seen).toEqual(['Submit', 'Watch', 'GetJob', 'CancelJob'].map((method) => ({ method, jobId: 'named-1' })));
  });
});
