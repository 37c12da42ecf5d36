/**
 * What the gRPC peers (peers/inline, peers/plain) share and a user writing
 * either would write once: a call error with a status, the ListTasks
 * catalogue, and serving a service on loopback until SIGTERM.
 */
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { TaskDefinition } from '../../workers/task.js';
import { loadComputePackage, MAX_MESSAGE_BYTES, toStruct } from './wire.js';

export class CallError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
  }
}

/** A thrown error as grpc-js sends it: a CallError's own status, anything else INTERNAL. */
export const grpcError = (error: unknown): { code: status; details: string } =>
  error instanceof CallError ? { code: error.code, details: error.message } : { code: status.INTERNAL, details: String(error) };

/** ListTasks' answer for these tasks. */
export const catalogueOf = (tasks: ReadonlyMap<string, TaskDefinition>) => ({
  tasks: [...tasks.values()].map((t) => ({ name: t.name, description: t.description, inputSchema: toStruct(t.input) })),
});

/**
 * Serves `service` on 127.0.0.1:`port` and prints the ready line the harness
 * waits for (`<name> listening on HOST:PORT`, with `fields`); SIGTERM or SIGINT
 * shuts it down, after `cleanup`, or exits after a second whatever happens.
 */
export async function servePeer(name: string, port: number, service: UntypedServiceImplementation, fields: Record<string, unknown>, cleanup: () => Promise<unknown> = async () => {}): Promise<void> {
  const host = '127.0.0.1';
  const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
  server.addService(loadComputePackage().ComputeService.service, service);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  console.log(JSON.stringify({ msg: `${name} listening on ${host}:${bound}`, pid: process.pid, ...fields }));
  const stop = (): void => {
    server.tryShutdown(() => void cleanup().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
