import type { GrpcServer } from './grpc-server.js';
import { HealthDefinition } from 'nice-grpc-server-health';
import { ServerReflection, ServerReflectionService } from 'nice-grpc-server-reflection';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';
import { loadDescriptorSet } from './descriptor-set.js';

const V1 = 'grpc.reflection.v1.ServerReflection';
const V1ALPHA = 'grpc.reflection.v1alpha.ServerReflection';

/**
 * Adds server reflection, v1 and v1alpha (grpcurl and many tools still ask
 * v1alpha; its messages are the same on the wire, so one implementation
 * serves both paths). Every exposed service is describable, reflection too.
 */
export function addReflection(server: Pick<GrpcServer<object>, 'add'>): void {
  const implementation = ServerReflection(loadDescriptorSet(), [
    ComputeServiceDefinition.fullName,
    HealthDefinition.fullName,
    V1,
    V1ALPHA,
  ]);
  server.add(ServerReflectionService, implementation);
  const v1alpha = {
    serverReflectionInfo: {
      ...ServerReflectionService.serverReflectionInfo,
      path: `/${V1ALPHA}/ServerReflectionInfo`,
    },
  } as unknown as typeof ServerReflectionService;
  server.add(v1alpha, implementation);
}
