import { credentials, makeGenericClientConstructor, Server, ServerCredentials } from '@grpc/grpc-js';
import type { ClientDuplexStream, ClientReadableStream, ServerDuplexStream, ServerWritableStream, ServiceDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { coalesceServerWrites } from '../../src/server/coalesced-writes.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const MESSAGES = 500;
const identity = (bytes: Buffer): Buffer => bytes;
const method = (name: string, requestStream: boolean) => ({
  path: `/test.Burst/${name}`,
  requestStream,
  responseStream: true,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const definition: ServiceDefinition = { serverStream: method('ServerStream', false), bidi: method('Bidi', true) };

/** Writes MESSAGES one-byte messages in one turn of the event loop, then ends. */
const burst = (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>): void => {
  for (let i = 0; i < MESSAGES; i++) call.write(Buffer.from([i % 256]));
  call.end();
};

const collect = (call: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>): Promise<number[]> =>
  new Promise((resolve, reject) => {
    const seen: number[] = [];
    call.on('data', (message: Buffer) => seen.push(message[0]!));
    call.on('error', reject);
    call.on('end', () => resolve(seen));
  });

describe('coalesced server writes', () => {
  const { track } = closedAfterEach();

  it.each(['server-streaming', 'bidi'] as const)('a %s call\'s messages written in one turn reach the socket in a few writes, in order', async (kind) => {
    coalesceServerWrites();
    const server = new Server();
    track({ close: () => server.forceShutdown() });
    server.addService(definition, { serverStream: burst, bidi: (call: ServerDuplexStream<Buffer, Buffer>) => call.on('data', () => burst(call)) });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const proxy = track(await startTcpProxy(port));
    const Client = makeGenericClientConstructor(definition, 'Burst');
    const client = track(new Client(proxy.address, credentials.createInsecure()));
    const stubs = client as unknown as {
      serverStream(request: Buffer): ClientReadableStream<Buffer>;
      bidi(): ClientDuplexStream<Buffer, Buffer>;
    };
    let call: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>;
    if (kind === 'server-streaming') call = stubs.serverStream(Buffer.alloc(0));
    else {
      const duplex = stubs.bidi();
      duplex.end(Buffer.alloc(0));
      call = duplex;
    }
    const seen = await collect(call);

    expect(seen).toEqual(Array.from({ length: MESSAGES }, (_, i) => i % 256));
    // One socket write per message, grpc-js's own way, would be over 500 reads here.
    expect(proxy.upstreamReads).toBeLessThan(MESSAGES / 10);
  });
});
