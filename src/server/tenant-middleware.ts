import type { CallContext, ServerMiddlewareCall } from 'nice-grpc';
import { Errors } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';
import { DEFAULT_TENANT, isTenantName, TENANT_METADATA } from '../tenant-name.js';
import type { RecordContext } from './call-record.js';

const COMPUTE = `/${ComputeServiceDefinition.fullName}/`;

/**
 * Without auth, the caller names its tenant in `offload-tenant` metadata;
 * a call that names none is the default tenant's. With auth this layer is
 * not used: the token decides (auth-middleware.ts). Health and reflection
 * need no tenant, so a bad header cannot fail a probe.
 */
export async function* tenantMiddleware<Request, Response>(
  call: ServerMiddlewareCall<Request, Response>,
  context: CallContext & RecordContext,
): AsyncGenerator<Response, Response | void, undefined> {
  if (call.method.path.startsWith(COMPUTE)) {
    const named = context.metadata.get(TENANT_METADATA);
    if (named !== undefined && !isTenantName(named)) throw Errors.invalidTenant.toServerError();
    context.record.tenant = named ?? DEFAULT_TENANT;
  }
  return yield* call.next(call.request, context);
}
