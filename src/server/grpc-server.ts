/**
 * The gRPC server: a grpc-js Server on which nice-grpc serves every method
 * except those offload serves with its own grpc-js handlers (RunStream and
 * RunBatch, ./serve-run-stream.ts and ./serve-run-batch.ts). nice-grpc wraps
 * each call in an abort controller, copied metadata and a chain of async
 * generators that every streamed message passes through: on a long stream
 * that is most of the main-thread cost per message and of the heap per open
 * call (bench/notes.md). nice-grpc's own createServer owns its grpc-js Server
 * and has no hook for a handler of our own, so this file does what it does
 * (the same handler factories, from nice-grpc's build) and takes such
 * handlers beside them.
 */
import { createRequire } from 'node:module';
import { Server as GrpcJsServer, ServerCredentials, type ChannelOptions, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { CompatServiceDefinition, ServerMiddleware, ServiceImplementation } from 'nice-grpc';

interface NormalizedMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}
type HandlerFactory = (definition: NormalizedMethod, implementation: (...args: unknown[]) => unknown, middleware: ServerMiddleware | undefined) => UntypedHandleCall;

// nice-grpc 2.1's internals (pinned in package-lock.json): the same code its createServer runs.
const require = createRequire(import.meta.url);
const definitions = require('nice-grpc/lib/service-definitions/index.js') as {
  normalizeServiceDefinition(definition: CompatServiceDefinition): Record<string, NormalizedMethod>;
  toGrpcJsServiceDefinition(definition: Record<string, NormalizedMethod>): Record<string, unknown>;
};
const factories = {
  unary: (require('nice-grpc/lib/server/handleUnaryCall.js') as { createUnaryMethodHandler: HandlerFactory }).createUnaryMethodHandler,
  serverStream: (require('nice-grpc/lib/server/handleServerStreamingCall.js') as { createServerStreamingMethodHandler: HandlerFactory }).createServerStreamingMethodHandler,
  clientStream: (require('nice-grpc/lib/server/handleClientStreamingCall.js') as { createClientStreamingMethodHandler: HandlerFactory }).createClientStreamingMethodHandler,
  bidi: (require('nice-grpc/lib/server/handleBidiStreamingCall.js') as { createBidiStreamingMethodHandler: HandlerFactory }).createBidiStreamingMethodHandler,
};

export interface GrpcServer<Ext> {
  /** Serves a service with nice-grpc, through the server's middleware. */
  add<Service extends CompatServiceDefinition>(definition: Service, implementation: ServiceImplementation<Service, Ext>): void;
  /** Serves a service with nice-grpc, except the methods in `direct`, which get offload's own grpc-js handlers. */
  addWithDirect<Service extends CompatServiceDefinition, Direct extends string>(
    definition: Service,
    implementation: Omit<ServiceImplementation<Service, Ext>, Direct>,
    direct: Record<Direct, UntypedHandleCall>,
  ): void;
  listen(address: string, credentials?: ServerCredentials): Promise<number>;
  /** Waits for every call to finish. */
  shutdown(): Promise<void>;
  forceShutdown(): void;
}

export function createGrpcServer<Ext>(options: ChannelOptions, middleware: ServerMiddleware<Ext>): GrpcServer<Ext> {
  const server = new GrpcJsServer(options);
  const addWithDirect = (definition: CompatServiceDefinition, implementation: object, direct: Record<string, UntypedHandleCall>): void => {
    const methods = definitions.normalizeServiceDefinition(definition);
    const handlers: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(methods)) {
      const own = direct[name];
      if (own) {
        handlers[name] = own;
        continue;
      }
      const implement = (implementation as Record<string, ((...args: unknown[]) => unknown) | undefined>)[name];
      if (!implement) throw new Error(`${method.path} has no implementation`);
      const factory = method.requestStream
        ? method.responseStream ? factories.bidi : factories.clientStream
        : method.responseStream ? factories.serverStream : factories.unary;
      handlers[name] = factory(method, implement.bind(implementation), middleware as ServerMiddleware);
    }
    server.addService(definitions.toGrpcJsServiceDefinition(methods) as never, handlers);
  };
  return {
    add: (definition, implementation) => addWithDirect(definition, implementation, {}),
    addWithDirect: (definition, implementation, direct) => addWithDirect(definition, implementation, direct),
    listen: (address, credentials) =>
      new Promise((resolve, reject) => {
        server.bindAsync(address, credentials ?? ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
      }),
    shutdown: () => new Promise((resolve, reject) => server.tryShutdown((error) => (error ? reject(error) : resolve()))),
    forceShutdown: () => server.forceShutdown(),
  };
}
