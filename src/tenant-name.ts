/**
 * Who a call is for: its tenant. One rule for the token file, the server's
 * `offload-tenant` metadata and the client, so a name one accepts the others do.
 */

/** The metadata key a caller names its tenant with when the server has no tokens. */
export const TENANT_METADATA = 'offload-tenant';

/** The tenant of a bare token, and of a call that names none. */
export const DEFAULT_TENANT = 'default';

/** The rule in words, for error messages. */
export const TENANT_NAME_RULE = '1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-"';

export function isTenantName(name: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(name);
}
