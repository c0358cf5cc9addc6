import { OAuthError } from '../common/oauth-error';
import { CONTENT_ENCRYPTION_ALGORITHMS, KEY_ENCRYPTION_ALGORITHMS, SECRET_BASED_ALGORITHMS } from '../common/jwe-algorithms';
import { TokenEndpointAuthMethod } from './client.entity';

/** Grant types Gatehouse knows by name; extension grants are absolute URIs. */
export const KNOWN_GRANT_TYPES = ['authorization_code', 'implicit', 'password', 'client_credentials', 'refresh_token'] as const;
export const TOKEN_ENDPOINT_AUTH_METHODS: TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];
export const DEFAULT_CLIENT_SCOPE = 'openid profile email';
/** Algorithms for ID tokens and signed UserInfo: the server's key types, and HS256 with the client secret. */
export const SIGNING_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA', 'HS256'] as const;
/** Longest access- or refresh-token lifetime a client may ask for. */
export const MAX_CLIENT_ACCESS_TOKEN_TTL = 86400;
export const MAX_CLIENT_REFRESH_TOKEN_TTL = 365 * 86400;

/** Optional RFC 7591 / OpenID Connect fields kept as registered. */
const OPTIONAL_STRING_FIELDS = [
  'client_uri',
  'logo_uri',
  'tos_uri',
  'policy_uri',
  'software_id',
  'software_version',
  'jwks_uri',
  'sector_identifier_uri',
  'subject_type',
  'id_token_signed_response_alg',
  'id_token_encrypted_response_alg',
  'id_token_encrypted_response_enc',
  'userinfo_signed_response_alg',
  'userinfo_encrypted_response_alg',
  'userinfo_encrypted_response_enc',
  'backchannel_logout_uri',
  'frontchannel_logout_uri',
] as const;

/** Client metadata after validation, with defaults applied. */
export interface ClientRegistration {
  clientId?: string;
  clientName: string | null;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  redirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
  scopes: string[];
  audience: string[];
  accessTokenTtl: number | null;
  refreshTokenTtl: number | null;
  firstParty: boolean;
  allowedCorsOrigins: string[];
  requirePkce: boolean;
  allowPlainPkce: boolean;
  metadata: Record<string, unknown>;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/** Whether a value has the syntax of a client id (chosen ones are checked against it; generated ones are base64url). */
export const isClientIdSyntax = (value: string): boolean => CLIENT_ID.test(value);

const invalidMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);
const invalidRedirectUri = (description: string) => new OAuthError('invalid_redirect_uri', description);

/** Splits a space-separated scope string (RFC 6749 §3.3) and checks each token's syntax. */
export function parseScope(value: string): string[] | undefined {
  const scopes = value.split(' ').filter((scope) => scope.length > 0);
  if (scopes.some((scope) => !SCOPE_TOKEN.test(scope))) return undefined;
  return [...new Set(scopes)];
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function isAbsoluteUri(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(value);
}

/** Most values a list field (redirect_uris, contacts, ...) or a JWK Set may hold. */
export const MAX_LIST_ITEMS = 100;

function stringArray(input: Record<string, unknown>, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.length === 0 || item.length > 2000)) {
    throw invalidMetadata(`${name} must be an array of non-empty strings`);
  }
  if (value.length > MAX_LIST_ITEMS) throw invalidMetadata(`${name} may hold at most ${MAX_LIST_ITEMS} values`);
  return [...new Set(value as string[])];
}

function optionalString(input: Record<string, unknown>, name: string, max = 2000): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw invalidMetadata(`${name} must be a non-empty string of at most ${max} characters`);
  return value;
}

function lifetime(input: Record<string, unknown>, name: string, max: number): number | null {
  const value = input[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 30 || value > max) {
    throw invalidMetadata(`${name} must be a whole number of seconds between 30 and ${max}`);
  }
  return value;
}

function validateRedirectUri(uri: string, allowInsecure: boolean): void {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw invalidRedirectUri(`redirect URI ${uri} is not an absolute URI`);
  }
  if (parsed.hash || uri.includes('#')) throw invalidRedirectUri(`redirect URI ${uri} must not contain a fragment`);
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname) && !allowInsecure) {
    throw invalidRedirectUri(`redirect URI ${uri} must use https (plain http is allowed on loopback addresses only)`);
  }
  if (['javascript:', 'data:', 'file:', 'vbscript:'].includes(parsed.protocol)) {
    throw invalidRedirectUri(`redirect URI ${uri} uses a forbidden scheme`);
  }
}

function validateLogoutUri(field: string, uri: string, allowInsecure: boolean): void {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw invalidMetadata(`${field} must be an absolute URI`);
  }
  if (parsed.hash || uri.includes('#')) throw invalidMetadata(`${field} must not contain a fragment`);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalidMetadata(`${field} must use https`);
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname) && !allowInsecure) {
    throw invalidMetadata(`${field} must use https (plain http is allowed on loopback addresses only)`);
  }
}

function validateJwks(value: unknown): void {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw invalidMetadata('jwks must be a JSON Web Key Set: {"keys": [...]}');
  }
  if ((value as { keys: unknown[] }).keys.length > MAX_LIST_ITEMS) throw invalidMetadata(`jwks may hold at most ${MAX_LIST_ITEMS} keys`);
  for (const key of (value as { keys: unknown[] }).keys) {
    if (typeof key !== 'object' || key === null || typeof (key as { kty?: unknown }).kty !== 'string') {
      throw invalidMetadata('every key in jwks needs a kty');
    }
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in (key as object))) {
      throw invalidMetadata('jwks must hold public keys only');
    }
  }
}

/**
 * Validates RFC 7591 client metadata and applies defaults. Errors use RFC 7591 §3.2.2
 * codes: `invalid_redirect_uri` and `invalid_client_metadata`.
 */
export interface MetadataOptions {
  allowClientId: boolean;
  /** ALLOW_INSECURE_REDIRECT_URIS: plain http beyond loopback (development only). */
  allowInsecureRedirectUris?: boolean;
}

export function validateClientMetadata(raw: unknown, options: MetadataOptions): ClientRegistration {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidMetadata('client metadata must be a JSON object');
  const input = raw as Record<string, unknown>;

  let clientId: string | undefined;
  if (input.client_id !== undefined) {
    if (!options.allowClientId) throw invalidMetadata('client_id is assigned by the server');
    if (typeof input.client_id !== 'string' || !CLIENT_ID.test(input.client_id)) {
      throw invalidMetadata('client_id must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -');
    }
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(input.client_id)) {
      // User subjects are UUIDs; a client's own tokens carry its client_id as `sub` (RFC 9068 §5).
      throw invalidMetadata('client_id must not have the form of a UUID (reserved for user subjects)');
    }
    clientId = input.client_id;
  }
  if (input.client_secret !== undefined) throw invalidMetadata('client_secret is generated by the server');

  const tokenEndpointAuthMethod = (optionalString(input, 'token_endpoint_auth_method') ?? 'client_secret_basic') as TokenEndpointAuthMethod;
  if (!TOKEN_ENDPOINT_AUTH_METHODS.includes(tokenEndpointAuthMethod)) {
    throw invalidMetadata(`token_endpoint_auth_method must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`);
  }

  const grantTypes = stringArray(input, 'grant_types') ?? ['authorization_code'];
  for (const grantType of grantTypes) {
    if (!(KNOWN_GRANT_TYPES as readonly string[]).includes(grantType) && !isAbsoluteUri(grantType)) {
      throw invalidMetadata(`unsupported grant type ${grantType}`);
    }
  }
  // The password grant hands out a refresh token so that the app can forget the password.
  if (grantTypes.includes('password') && !grantTypes.includes('refresh_token')) grantTypes.push('refresh_token');
  if (tokenEndpointAuthMethod === 'none' && grantTypes.includes('client_credentials')) {
    throw invalidMetadata('client_credentials needs a confidential client (token_endpoint_auth_method other than none)');
  }

  const defaultResponseTypes = [...(grantTypes.includes('authorization_code') ? ['code'] : []), ...(grantTypes.includes('implicit') ? ['token'] : [])];
  const responseTypes = stringArray(input, 'response_types') ?? defaultResponseTypes;
  for (const responseType of responseTypes) {
    const parts = responseType.split(' ');
    if (!parts.every((part) => ['code', 'token', 'id_token'].includes(part)) && responseType !== 'none') {
      throw invalidMetadata(`unsupported response type ${responseType}`);
    }
    if (parts.includes('code') && !grantTypes.includes('authorization_code')) {
      throw invalidMetadata(`response type ${responseType} needs the authorization_code grant type`);
    }
    if ((parts.includes('token') || parts.includes('id_token')) && !grantTypes.includes('implicit')) {
      throw invalidMetadata(`response type ${responseType} needs the implicit grant type`);
    }
  }
  if (grantTypes.includes('authorization_code') && !responseTypes.some((type) => type.split(' ').includes('code'))) {
    throw invalidMetadata('the authorization_code grant type needs a response type containing code');
  }

  const redirectUris = stringArray(input, 'redirect_uris') ?? [];
  redirectUris.forEach((uri) => validateRedirectUri(uri, options.allowInsecureRedirectUris === true));
  if (responseTypes.length > 0 && redirectUris.length === 0) {
    throw invalidRedirectUri('redirect_uris is required for clients that use the authorization endpoint');
  }

  const scopeText = optionalString(input, 'scope', 4000) ?? DEFAULT_CLIENT_SCOPE;
  const scopes = parseScope(scopeText);
  if (!scopes || scopes.length === 0) throw invalidMetadata('scope must be a space-separated list of scope tokens');

  const audience = stringArray(input, 'audience') ?? [];
  if (audience.some((value) => !isAbsoluteUri(value))) throw invalidMetadata('audience must be a list of absolute URIs');

  if (input.jwks !== undefined && input.jwks_uri !== undefined) throw invalidMetadata('jwks and jwks_uri are mutually exclusive');
  if (input.jwks !== undefined) validateJwks(input.jwks);

  const metadata: Record<string, unknown> = {};
  for (const field of OPTIONAL_STRING_FIELDS) {
    const value = optionalString(input, field);
    if (value !== undefined) metadata[field] = value;
  }
  for (const field of ['id_token_signed_response_alg', 'userinfo_signed_response_alg']) {
    const alg = metadata[field];
    if (alg !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(alg as string)) {
      throw invalidMetadata(`${field} must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
    }
    if (alg === 'HS256' && tokenEndpointAuthMethod === 'none') throw invalidMetadata(`${field} HS256 needs a client secret (a confidential client)`);
  }
  for (const purpose of ['id_token', 'userinfo']) {
    const alg = metadata[`${purpose}_encrypted_response_alg`];
    const enc = metadata[`${purpose}_encrypted_response_enc`];
    if (enc !== undefined && alg === undefined) throw invalidMetadata(`${purpose}_encrypted_response_enc needs ${purpose}_encrypted_response_alg`);
    if (alg === undefined) continue;
    if (!(KEY_ENCRYPTION_ALGORITHMS as readonly string[]).includes(alg as string)) {
      throw invalidMetadata(`${purpose}_encrypted_response_alg must be one of ${KEY_ENCRYPTION_ALGORITHMS.join(', ')}`);
    }
    if (enc !== undefined && !(CONTENT_ENCRYPTION_ALGORITHMS as readonly string[]).includes(enc as string)) {
      throw invalidMetadata(`${purpose}_encrypted_response_enc must be one of ${CONTENT_ENCRYPTION_ALGORITHMS.join(', ')}`);
    }
    if (SECRET_BASED_ALGORITHMS.has(alg as string)) {
      if (tokenEndpointAuthMethod === 'none') throw invalidMetadata(`${purpose}_encrypted_response_alg ${String(alg)} needs a client secret`);
    } else if (input.jwks === undefined && metadata.jwks_uri === undefined) {
      throw invalidMetadata(`${purpose}_encrypted_response_alg ${String(alg)} needs the client's jwks or jwks_uri`);
    }
  }
  if (metadata.subject_type !== undefined && metadata.subject_type !== 'public' && metadata.subject_type !== 'pairwise') {
    throw invalidMetadata('subject_type must be public or pairwise');
  }
  if (metadata.subject_type === 'pairwise' && metadata.sector_identifier_uri === undefined) {
    const hosts = new Set(redirectUris.map((uri) => new URL(uri).host));
    if (hosts.size > 1) throw invalidMetadata('pairwise clients with redirect URIs on several hosts need a sector_identifier_uri');
  }
  if (typeof metadata.sector_identifier_uri === 'string') {
    const sector = URL.canParse(metadata.sector_identifier_uri) ? new URL(metadata.sector_identifier_uri) : undefined;
    if (!sector || (sector.protocol !== 'https:' && !(sector.protocol === 'http:' && isLoopbackHost(sector.hostname)))) {
      throw invalidMetadata('sector_identifier_uri must use https');
    }
  }
  if (typeof metadata.jwks_uri === 'string' && !String(metadata.jwks_uri).startsWith('https://')) {
    throw invalidMetadata('jwks_uri must use https');
  }
  if (input.jwks !== undefined) metadata.jwks = input.jwks;
  const contacts = stringArray(input, 'contacts');
  if (contacts) metadata.contacts = contacts;
  // Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2: absolute URIs, no fragment, https except on loopback.
  for (const field of ['backchannel_logout_uri', 'frontchannel_logout_uri']) {
    if (typeof metadata[field] === 'string') validateLogoutUri(field, metadata[field], options.allowInsecureRedirectUris === true);
  }
  for (const flag of ['backchannel_logout_session_required', 'frontchannel_logout_session_required']) {
    if (input[flag] === undefined) continue;
    if (typeof input[flag] !== 'boolean') throw invalidMetadata(`${flag} must be true or false`);
    metadata[flag] = input[flag];
  }
  const postLogoutRedirectUris = stringArray(input, 'post_logout_redirect_uris');
  if (postLogoutRedirectUris) {
    postLogoutRedirectUris.forEach((uri) => validateRedirectUri(uri, options.allowInsecureRedirectUris === true));
    metadata.post_logout_redirect_uris = postLogoutRedirectUris;
  }

  for (const flag of ['first_party', 'require_pkce', 'allow_plain_pkce']) {
    if (input[flag] !== undefined && typeof input[flag] !== 'boolean') throw invalidMetadata(`${flag} must be true or false`);
  }
  if (input.require_pkce === false && tokenEndpointAuthMethod === 'none') throw invalidMetadata('public clients always use PKCE');
  const allowedCorsOrigins = (stringArray(input, 'allowed_cors_origins') ?? []).map((origin) => {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw invalidMetadata(`allowed_cors_origins: ${origin} is not an origin`);
    }
    if (parsed.origin !== origin.replace(/\/$/, '') || !['http:', 'https:'].includes(parsed.protocol)) {
      throw invalidMetadata(`allowed_cors_origins: ${origin} must be a scheme, host and port only, like https://app.example.com`);
    }
    if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) throw invalidMetadata(`allowed_cors_origins: ${origin} must use https`);
    return parsed.origin;
  });
  const clientName = optionalString(input, 'client_name', 200) ?? null;

  return {
    clientId,
    clientName,
    tokenEndpointAuthMethod,
    redirectUris,
    grantTypes,
    responseTypes,
    scopes,
    audience,
    accessTokenTtl: lifetime(input, 'access_token_ttl', MAX_CLIENT_ACCESS_TOKEN_TTL),
    refreshTokenTtl: lifetime(input, 'refresh_token_ttl', MAX_CLIENT_REFRESH_TOKEN_TTL),
    firstParty: input.first_party === true,
    allowedCorsOrigins,
    requirePkce: input.require_pkce !== false,
    allowPlainPkce: input.allow_plain_pkce === true,
    metadata,
  };
}
