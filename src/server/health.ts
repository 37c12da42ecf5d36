import { HealthDefinition, HealthServiceImpl, HealthState } from 'nice-grpc-server-health';
import type { GrpcServer } from './grpc-server.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';

export interface Health {
  /** SERVING for "" and offload.v1.ComputeService. */
  serving(): void;
  /** NOT_SERVING: the server is draining; balancers should stop sending work. */
  notServing(): void;
}

/** Adds grpc.health.v1.Health (Check and Watch); any other service name is NOT_FOUND on Check. */
export function addHealth(server: Pick<GrpcServer<object>, 'add'>): Health {
  const state = HealthState();
  server.add(HealthDefinition, HealthServiceImpl(state));
  const set = (status: 'healthy' | 'unhealthy'): void => {
    state.setStatus(status);
    state.setStatus(status, ComputeServiceDefinition.fullName);
  };
  set('unhealthy');
  return { serving: () => set('healthy'), notServing: () => set('unhealthy') };
}
