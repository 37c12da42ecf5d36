import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerError, Status, type CallContext, type ServerMiddlewareCall } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';

/** Balancers probe health without credentials. */
const OPEN = `/${HealthDefinition.fullName}/`;

/**
 * Bearer-token authentication: `authorization: Bearer TOKEN` must match one
 * of the configured tokens. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, every token every time, so timing reveals nothing.
 */
export function createAuthMiddleware(tokens: readonly string[]) {
  const digests = tokens.map(digest);
  const accepts = (token: string): boolean => {
    const presented = digest(token);
    let match = false;
    for (const expected of digests) match = timingSafeEqual(presented, expected) || match;
    return match;
  };
  return async function* authMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    if (!call.method.path.startsWith(OPEN)) {
      const header = context.metadata.get('authorization');
      if (header === undefined) throw new ServerError(Status.UNAUTHENTICATED, 'missing credentials: send "authorization: Bearer TOKEN"');
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
      if (!match || !accepts(match[1]!)) throw new ServerError(Status.UNAUTHENTICATED, 'invalid bearer token');
    }
    return yield* call.next(call.request, context);
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
