import { OAuthError } from '../common/oauth-error';

/**
 * What an untrusted party may ask for through dynamic registration (RFC 7591) or
 * management (RFC 7592). Everything else is checked by `validateClientMetadata`.
 */

/** Fields the server assigns; RFC 7592 §2.2 lets the server ignore them in an update request. */
const SERVER_ASSIGNED_FIELDS = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'] as const;

const invalidMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);

/**
 * Refuses what only an administrator may grant: `first_party: true` (skips consent),
 * `audience` (tokens for other resource servers), `require_pkce: false` and
 * `allow_plain_pkce: true` (weaker PKCE). The harmless values the registration response
 * itself carries (`first_party: false`, `require_pkce: true`, `allow_plain_pkce: false`,
 * an empty `audience`) are accepted and dropped, so that a read response can be sent
 * back as an update. Returns a copy; the input is not changed.
 */
export function untrustedMetadata(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw; // validateClientMetadata refuses it
  const input: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (input.first_party !== undefined) {
    if (input.first_party !== false) throw invalidMetadata('first_party cannot be registered dynamically');
    delete input.first_party;
  }
  if (input.audience !== undefined) {
    if (!Array.isArray(input.audience) || input.audience.length > 0) throw invalidMetadata('audience cannot be registered dynamically');
    delete input.audience;
  }
  if (input.require_pkce !== undefined && input.require_pkce !== true) {
    throw invalidMetadata('require_pkce cannot be turned off by dynamic registration');
  }
  if (input.allow_plain_pkce !== undefined && input.allow_plain_pkce !== false) {
    throw invalidMetadata('allow_plain_pkce cannot be turned on by dynamic registration');
  }
  return input;
}

/**
 * Prepares an RFC 7592 §2.2 update request: `client_id` must be present and equal to the
 * managed client's; server-assigned fields are ignored. `client_id` and `client_secret`
 * are taken out and returned apart (the caller checks the secret).
 */
export function updateRequestMetadata(raw: unknown, clientId: string): { metadata: unknown; clientSecret?: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { metadata: untrustedMetadata(raw) };
  const input: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (input.client_id === undefined) throw invalidMetadata('client_id is required in an update request (RFC 7592 section 2.2)');
  if (input.client_id !== clientId) throw invalidMetadata('client_id does not match the client being updated');
  const clientSecret = input.client_secret;
  delete input.client_id;
  delete input.client_secret;
  for (const field of SERVER_ASSIGNED_FIELDS) delete input[field];
  return { metadata: untrustedMetadata(input), ...(clientSecret !== undefined ? { clientSecret } : {}) };
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
 * case-insensitive), or undefined when the header is missing or not of that form.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  return match?.[1];
}

/** Whether a request's media type is application/json (parameters such as charset allowed). */
export function isJsonContentType(header: string | undefined): boolean {
  return (header ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}
