import type { Metadata } from 'nice-grpc';
import { Errors } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';
import { DEFAULT_TENANT, isTenantName, TENANT_METADATA } from '../tenant-name.js';

/** A call's metadata as the server reads it: a key's values joined by ", ", as nice-grpc's Metadata.get gives them. */
export type MetadataReader = Pick<Metadata, 'get'>;

/** Whose call this is; undefined for calls that need no tenant. Throws a ServerError to refuse the call. */
export type TenantOf = (path: string, metadata: MetadataReader) => string | undefined;

const COMPUTE = `/${ComputeServiceDefinition.fullName}/`;

/**
 * Without auth, the caller names its tenant in `offload-tenant` metadata;
 * a call that names none is the default tenant's. With auth the token
 * decides instead (bearer-auth.ts). Health and reflection need no tenant,
 * so a bad header cannot fail a probe.
 */
export const tenantFromMetadata: TenantOf = (path, metadata) => {
  if (!path.startsWith(COMPUTE)) return undefined;
  const named = metadata.get(TENANT_METADATA);
  if (named !== undefined && !isTenantName(named)) throw Errors.invalidTenant.toServerError();
  return named ?? DEFAULT_TENANT;
};
