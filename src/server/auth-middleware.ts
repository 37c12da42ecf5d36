import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import type { AuthToken } from '../config.js';
import type { RecordContext } from './call-record.js';

/** Balancers probe health without credentials. */
const OPEN = `/${HealthDefinition.fullName}/`;

/**
 * Bearer-token authentication: `authorization: Bearer TOKEN` must match one
 * of the configured tokens, and the call's tenant is that token's. Tokens are
 * compared as SHA-256 digests with timingSafeEqual, every token every time,
 * so timing reveals nothing. An `offload-tenant` header is not read: a caller
 * cannot speak for another tenant than its token's.
 */
export function createAuthMiddleware(tokens: readonly AuthToken[]) {
  const known = tokens.map(({ token, tenant }) => ({ digest: digest(token), tenant }));
  const tenantOf = (token: string): string | undefined => {
    const presented = digest(token);
    let tenant: string | undefined;
    // No early exit: the loop takes as long for the first token as for none. Tokens are unique, so at most one matches.
    for (const expected of known) if (timingSafeEqual(presented, expected.digest)) tenant = expected.tenant;
    return tenant;
  };
  return async function* authMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext & RecordContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    if (!call.method.path.startsWith(OPEN)) {
      const header = context.metadata.get('authorization');
      if (header === undefined) throw new ServerError(Status.UNAUTHENTICATED, 'missing credentials: send "authorization: Bearer TOKEN"');
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
      const tenant = match ? tenantOf(match[1]!) : undefined;
      if (tenant === undefined) throw new ServerError(Status.UNAUTHENTICATED, 'invalid bearer token');
      context.record.tenant = tenant;
    }
    return yield* call.next(call.request, context);
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
