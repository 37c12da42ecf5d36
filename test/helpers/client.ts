import { createChannel, createClientFactory, type Client } from 'nice-grpc';
import { deadlineMiddleware } from 'nice-grpc-client-middleware-deadline';
import { ComputeServiceDefinition } from '../../src/gen/offload/v1/compute.js';

export type ComputeClient = Client<typeof ComputeServiceDefinition, { deadline?: Date | number }>;

/** A nice-grpc client on the generated definition, with deadlines that really apply. */
export function connect(address: string): { client: ComputeClient; close: () => void } {
  const channel = createChannel(address, undefined, {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const client = createClientFactory().use(deadlineMiddleware).create(ComputeServiceDefinition, channel);
  return { client, close: () => channel.close() };
}

/** Collects every message of a stream. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** The rejection of a promise, or a failure if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: number; details: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
