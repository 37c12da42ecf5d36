import { createHash, timingSafeEqual } from 'node:crypto';
import { Errors } from '../errors.js';
import { HealthDefinition } from 'nice-grpc-server-health';
import type { AuthToken } from '../config.js';
import type { TenantOf } from './call-tenant.js';

/** Balancers probe health without credentials. */
const OPEN = `/${HealthDefinition.fullName}/`;

/**
 * Bearer-token authentication: `authorization: Bearer TOKEN` must match one
 * of the configured tokens, and the call's tenant is that token's. Tokens are
 * compared as SHA-256 digests with timingSafeEqual, every token every time,
 * so timing reveals nothing. An `offload-tenant` header is not read: a caller
 * cannot speak for another tenant than its token's.
 */
export function createBearerAuth(tokens: readonly AuthToken[]): TenantOf {
  const tenantOf = createTokenCheck(tokens);
  return (path, metadata) => {
    if (path.startsWith(OPEN)) return undefined;
    const header = metadata.get('authorization');
    if (header === undefined) throw Errors.missingCredentials.toServerError();
    const tenant = tenantOf(header);
    if (tenant === undefined) throw Errors.invalidToken.toServerError();
    return tenant;
  };
}

/** The tenant of an `authorization` header's bearer token; undefined when it names no configured token. */
export function createTokenCheck(tokens: readonly AuthToken[]): (header: string) => string | undefined {
  const known = tokens.map(({ token, tenant }) => ({ digest: digest(token), tenant }));
  return (header) => {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const presented = digest(match[1]!);
    let tenant: string | undefined;
    // No early exit: the loop takes as long for the first token as for none. Tokens are unique, so at most one matches.
    for (const expected of known) if (timingSafeEqual(presented, expected.digest)) tenant = expected.tenant;
    return tenant;
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
