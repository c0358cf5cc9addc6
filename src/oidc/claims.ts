import { User } from '../users/user.entity';

/** OpenID Connect Core §5.4: the claims each standard scope releases. */
export const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access'] as const;
export const SUPPORTED_CLAIMS = [
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'acr',
  'amr',
  'azp',
  'sid',
  'at_hash',
  'c_hash',
  ...Object.values(SCOPE_CLAIMS).flat(),
];

/** The `claims` request parameter (OpenID Connect Core §5.5), as far as Gatehouse honours it. */
export interface ClaimsRequest {
  userinfo?: Record<string, { essential?: boolean; value?: unknown; values?: unknown[] } | null>;
  id_token?: Record<string, { essential?: boolean; value?: unknown; values?: unknown[] } | null>;
}

/** Parses the `claims` parameter; undefined when absent, an Error when malformed. */
export function parseClaimsRequest(raw: string | undefined): ClaimsRequest | undefined | Error {
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return new Error('claims must be a JSON object');
    // Stored as jsonb with the authorization code, which holds neither \u0000 nor a lone surrogate.
    if (/\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(JSON.stringify(parsed))) return new Error('claims holds a NUL character or a lone surrogate');
    const request = parsed as Record<string, unknown>;
    for (const member of ['userinfo', 'id_token']) {
      const value = request[member];
      if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) return new Error(`claims.${member} must be an object`);
    }
    return request as ClaimsRequest;
  } catch {
    return new Error('claims is not valid JSON');
  }
}

/** A user's value for a standard claim, or undefined when the user has none. */
function claimValue(user: User, claim: string): unknown {
  switch (claim) {
    case 'name':
      return user.name ?? undefined;
    case 'given_name':
      return user.givenName ?? undefined;
    case 'family_name':
      return user.familyName ?? undefined;
    case 'preferred_username':
      return user.username;
    case 'updated_at':
      return Math.floor(user.updatedAt.getTime() / 1000);
    case 'email':
      return user.email ?? undefined;
    case 'email_verified':
      return user.email ? user.emailVerified : undefined;
    case 'address':
      return user.address ?? undefined;
    case 'phone_number':
      return user.phoneNumber ?? undefined;
    case 'phone_number_verified':
      return user.phoneNumber ? user.phoneNumberVerified : undefined;
    default:
      return undefined;
  }
}

/**
 * The user's claims that `scopes` release, plus those named in `requested` (the claims
 * parameter's `userinfo` or `id_token` member). Claims the user has no value for are left out.
 */
export function userClaims(user: User, scopes: readonly string[], requested?: Record<string, unknown> | null): Record<string, unknown> {
  const names = new Set<string>();
  for (const scope of scopes) for (const claim of SCOPE_CLAIMS[scope] ?? []) names.add(claim);
  for (const claim of Object.keys(requested ?? {})) names.add(claim);
  const claims: Record<string, unknown> = {};
  for (const name of names) {
    const value = claimValue(user, name);
    if (value !== undefined) claims[name] = value;
  }
  return claims;
}
