/**
 * grpc.health.v1.Health as a load balancer or orchestrator sees it: Check and
 * Watch for "" and offload.v1.ComputeService, and how both report the
 * ordered shutdown (NOT_SERVING first, new compute calls refused, in-flight
 * calls given the grace, then aborted).
 */
import { performance } from 'node:perf_hooks';
import { createChannel, createClient, Status, type Channel, type Client } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { collect, connect, rejection, type ComputeClient } from '../helpers/client.js';
import { startServer } from '../helpers/start-server.js';
import { eventually } from '../helpers/eventually.js';
import { Errors } from '../../src/errors.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus; nice-grpc-server-health exports only its type, through the client. */
type ServingStatus = Awaited<ReturnType<Client<typeof HealthDefinition>['check']>>['status'];
const SERVING = 1 as ServingStatus;
const NOT_SERVING = 2 as ServingStatus;
const COMPUTE = 'offload.v1.ComputeService';

interface Running {
  server: ComputeServer;
  health: Client<typeof HealthDefinition>;
  compute: ComputeClient;
  /** Starts the ordered shutdown (once; later calls return the same promise). */
  shutdown(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(flags: string[] = []): Promise<Running> {
  const server = await startServer(flags);
  const channel: Channel = createChannel(server.address);
  const { client: compute, close } = connect(server.address);
  let shutdown: Promise<void> | undefined;
  cleanups.push(async () => {
    channel.close();
    close();
    await (shutdown ?? server.close());
  });
  return {
    server,
    health: createClient(HealthDefinition, channel),
    compute,
    shutdown: () => (shutdown ??= server.shutdown()),
  };
}

/** Resolves once the pool runs `count` tasks, i.e. the calls are really in flight. */
async function running(server: ComputeServer, count = 1): Promise<void> {
  await eventually(() => expect(server.pool.stats.running).toBe(count));
}

describe('Check', () => {
  it('reports SERVING for the whole server ("") and for offload.v1.ComputeService once started', async () => {
    const { health } = await start();
    expect(await health.check({ service: '' })).toEqual({ status: SERVING });
    expect(await health.check({ service: COMPUTE })).toEqual({ status: SERVING });
  });

  it('answers NOT_FOUND for a service the server does not have', async () => {
    const { health } = await start();
    const error = await rejection(health.check({ service: 'no.such.Service' }));
    expect(error.code).toBe(Status.NOT_FOUND);
  });
});

describe('during shutdown', () => {
  it('reports NOT_SERVING and refuses a new Run or RunStream with UNAVAILABLE, while an in-flight stream still completes with its result', async () => {
    const t = await start(['--shutdown-grace-ms', '5000']);
    const events = collect(t.compute.runStream({ task: 'spin', input: { ms: 1500 } }));
    await running(t.server);

    const stopped = t.shutdown();
    expect(await t.health.check({ service: '' })).toEqual({ status: NOT_SERVING });
    expect(await t.health.check({ service: COMPUTE })).toEqual({ status: NOT_SERVING });
    const refused = await rejection(t.compute.run({ task: 'echo', input: { hello: 'world' } }));
    expect(refused).toMatchObject({ code: Errors.shuttingDown.code, details: Errors.shuttingDown.message });
    const refusedStream = await rejection(collect(t.compute.runStream({ task: 'echo', input: { hello: 'world' } })));
    expect(refusedStream).toMatchObject({ code: Errors.shuttingDown.code, details: Errors.shuttingDown.message });

    const received = await events;
    expect(received.at(-1)?.result?.output).toEqual({ ms: 1500 });
    expect(received.filter((e) => e.result)).toHaveLength(1);
    await stopped;
  });

  it('a Watch stream sees SERVING, then NOT_SERVING as soon as shutdown starts', async () => {
    const t = await start(['--shutdown-grace-ms', '5000']);
    // A call in flight keeps the server open while draining, as in production.
    const inFlight = t.compute.run({ task: 'spin', input: { ms: 1000 } });
    await running(t.server);

    const controller = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const { status } of t.health.watch({ service: COMPUTE }, { signal: controller.signal })) {
        seen.push(status);
        if (status === NOT_SERVING) return;
      }
    })();
    await eventually(() => expect(seen).toEqual([SERVING]));

    const stopped = t.shutdown();
    await watching;
    expect(seen).toEqual([SERVING, NOT_SERVING]);
    controller.abort();

    const { result } = await inFlight;
    expect(result?.output).toEqual({ ms: 1000 });
    await stopped;
  });

  it('fails an in-flight call with UNAVAILABLE "server shutting down" when it outlasts --shutdown-grace-ms, and shutdown() still resolves', async () => {
    const t = await start(['--shutdown-grace-ms', '200']);
    // Both rejections are observed from the start: they arrive together.
    const stream = rejection(collect(t.compute.runStream({ task: 'spin', input: { ms: 5000 } })));
    const unary = rejection(t.compute.run({ task: 'spin', input: { ms: 5000 } }));
    await running(t.server, 2);

    const began = performance.now();
    const stopped = t.shutdown();
    expect(await stream).toMatchObject({ code: Errors.shuttingDown.code, details: Errors.shuttingDown.message });
    expect(await unary).toMatchObject({ code: Errors.shuttingDown.code, details: Errors.shuttingDown.message });
    await stopped;
    // The grace (200 ms) plus the cooperative stop of the spin loops; not the 5 s the tasks asked for.
    expect(performance.now() - began).toBeLessThan(3000);
  });
});
