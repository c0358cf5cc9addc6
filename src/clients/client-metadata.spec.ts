import { describe, expect, it } from 'vitest';
import { OAuthError } from '../common/oauth-error';
import {
  ClientRegistration,
  DEFAULT_CLIENT_SCOPE,
  MAX_CLIENT_ACCESS_TOKEN_TTL,
  MAX_CLIENT_REFRESH_TOKEN_TTL,
  MAX_LIST_ITEMS,
  isLoopbackHost,
  parseScope,
  validateClientMetadata,
} from './client-metadata';

const REDIRECT = 'https://app.example.com/callback';
/** The smallest valid registration: an authorization-code client with one redirect URI. */
const minimal = { redirect_uris: [REDIRECT] };
/** A confidential machine client that uses no redirect. */
const machine = { grant_types: ['client_credentials'] };

const validate = (raw: unknown, allowClientId = false): ClientRegistration => validateClientMetadata(raw, { allowClientId });

/** The OAuthError `validate(raw)` throws (fails the test otherwise). */
function rejection(raw: unknown, allowClientId = false): OAuthError {
  try {
    validate(raw, allowClientId);
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, the metadata was accepted');
}

const invalidMetadata = (raw: unknown, mentions?: string) => {
  const error = rejection(raw);
  expect(error.code).toBe('invalid_client_metadata');
  expect(error.status).toBe(400);
  if (mentions) expect(error.description).toContain(mentions);
};
const invalidRedirect = (raw: unknown) => {
  const error = rejection(raw);
  expect(error.code).toBe('invalid_redirect_uri');
  expect(error.status).toBe(400);
};

describe('validateClientMetadata defaults', () => {
  it('defaults to the authorization_code grant, the code response type and client_secret_basic', () => {
    expect(validate(minimal)).toEqual({
      clientId: undefined,
      clientName: null,
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUris: [REDIRECT],
      grantTypes: ['authorization_code'],
      responseTypes: ['code'],
      scopes: DEFAULT_CLIENT_SCOPE.split(' '),
      audience: [],
      accessTokenTtl: null,
      refreshTokenTtl: null,
      firstParty: false,
      allowedCorsOrigins: [],
      requirePkce: true,
      allowPlainPkce: false,
      metadata: {},
    });
  });

  it('gives a client without authorization-endpoint grants no response types and needs no redirect URI', () => {
    const registration = validate(machine);
    expect(registration.responseTypes).toEqual([]);
    expect(registration.redirectUris).toEqual([]);
  });

  it('defaults the token response type for the implicit grant', () => {
    expect(validate({ ...minimal, grant_types: ['implicit'] }).responseTypes).toEqual(['token']);
  });

  it('requires redirect_uris when the client uses the authorization endpoint (invalid_redirect_uri)', () => {
    invalidRedirect({});
    invalidRedirect({ redirect_uris: [] });
  });

  it('must be a JSON object', () => {
    for (const raw of [null, undefined, 'x', 42, [minimal]]) invalidMetadata(raw, 'JSON object');
  });

  it('removes duplicate array entries', () => {
    const registration = validate({ redirect_uris: [REDIRECT, REDIRECT], grant_types: ['authorization_code', 'authorization_code'] });
    expect(registration.redirectUris).toEqual([REDIRECT]);
    expect(registration.grantTypes).toEqual(['authorization_code']);
  });

  it('keeps optional registration fields in metadata and ignores unknown ones', () => {
    const registration = validate({
      ...minimal,
      client_name: 'My App',
      client_uri: 'https://app.example.com',
      contacts: ['ops@example.com'],
      jwks_uri: 'https://app.example.com/jwks.json',
      post_logout_redirect_uris: ['https://app.example.com/bye'],
      something_else: 'x',
    });
    expect(registration.clientName).toBe('My App');
    expect(registration.metadata).toEqual({
      client_uri: 'https://app.example.com',
      jwks_uri: 'https://app.example.com/jwks.json',
      contacts: ['ops@example.com'],
      post_logout_redirect_uris: ['https://app.example.com/bye'],
    });
  });
});

describe('validateClientMetadata redirect URIs', () => {
  it('accepts https, custom schemes of native apps, and http on loopback addresses', () => {
    const uris = [
      'https://app.example.com/cb?x=1',
      'com.example.app:/oauth2redirect',
      'http://localhost:8080/cb',
      'http://127.0.0.1/cb',
      'http://[::1]:3000/cb',
    ];
    expect(validate({ redirect_uris: uris }).redirectUris).toEqual(uris);
  });

  it('refuses plain http on any other host, including look-alikes of loopback', () => {
    for (const uri of ['http://app.example.com/cb', 'http://localhost.evil.example/cb', 'http://127.0.0.1.evil.example/cb', 'http://10.0.0.1/cb']) {
      invalidRedirect({ redirect_uris: [uri] });
    }
  });

  it('refuses fragments, even an empty one', () => {
    invalidRedirect({ redirect_uris: ['https://app.example.com/cb#section'] });
    invalidRedirect({ redirect_uris: ['https://app.example.com/cb#'] });
  });

  it('refuses relative and malformed URIs', () => {
    invalidRedirect({ redirect_uris: ['/callback'] });
    invalidRedirect({ redirect_uris: ['app.example.com/cb'] });
  });

  it('refuses dangerous schemes', () => {
    for (const uri of ['javascript:alert(1)', 'data:text/html,hi', 'file:///etc/passwd', 'vbscript:msgbox']) invalidRedirect({ redirect_uris: [uri] });
  });

  it('refuses one bad URI among good ones', () => {
    invalidRedirect({ redirect_uris: [REDIRECT, 'http://app.example.com/cb'] });
  });

  it('applies the same rules to post_logout_redirect_uris', () => {
    invalidRedirect({ ...minimal, post_logout_redirect_uris: ['http://app.example.com/bye'] });
    invalidRedirect({ ...minimal, post_logout_redirect_uris: ['https://app.example.com/bye#x'] });
  });

  it('refuses redirect_uris that is not an array of non-empty strings (invalid_client_metadata)', () => {
    invalidMetadata({ redirect_uris: REDIRECT }, 'redirect_uris');
    invalidMetadata({ redirect_uris: [''] }, 'redirect_uris');
    invalidMetadata({ redirect_uris: [42] }, 'redirect_uris');
  });

  it('accepts at most 100 redirect URIs, and as many values in every other list (found by fuzzing: 3,000 were stored)', () => {
    const uris = (count: number) => Array.from({ length: count }, (_, index) => `${REDIRECT}/${index}`);
    expect(validate({ redirect_uris: uris(MAX_LIST_ITEMS) }).redirectUris).toHaveLength(100);
    invalidMetadata({ redirect_uris: uris(MAX_LIST_ITEMS + 1) }, 'at most 100');
    invalidMetadata({ ...minimal, contacts: Array.from({ length: 101 }, () => 'ops@example.com') }, 'contacts');
    invalidMetadata({ ...minimal, jwks: { keys: Array.from({ length: 101 }, () => ({ kty: 'EC' })) } }, 'jwks');
  });
});

describe('validateClientMetadata grant and response types', () => {
  it('refuses a code response type without the authorization_code grant', () => {
    invalidMetadata({ ...minimal, grant_types: ['implicit'], response_types: ['code'] }, 'authorization_code');
  });

  it('refuses token and id_token response types without the implicit grant', () => {
    invalidMetadata({ ...minimal, response_types: ['code', 'token'] }, 'implicit');
    invalidMetadata({ ...minimal, response_types: ['code', 'id_token'] }, 'implicit');
    invalidMetadata({ ...minimal, response_types: ['code', 'code token'] }, 'implicit');
  });

  it('accepts hybrid response types only with both the authorization_code and implicit grants (OpenID Connect Registration §2)', () => {
    invalidMetadata({ ...minimal, response_types: ['code', 'code id_token'] }, 'implicit');
    expect(validate({ ...minimal, grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'code id_token'] }).responseTypes).toEqual([
      'code',
      'code id_token',
    ]);
    expect(validate({ ...minimal, grant_types: ['authorization_code', 'implicit'], response_types: ['code token'] }).responseTypes).toEqual(['code token']);
  });

  it('refuses the authorization_code grant without a response type containing code', () => {
    invalidMetadata({ ...minimal, response_types: [] }, 'response type containing code');
    invalidMetadata({ ...minimal, grant_types: ['authorization_code', 'implicit'], response_types: ['token'] }, 'response type containing code');
  });

  it('refuses unknown response types and grant types', () => {
    invalidMetadata({ ...minimal, response_types: ['code', 'device'] }, 'device');
    invalidMetadata({ ...minimal, grant_types: ['authorization_code', 'magic'] }, 'magic');
  });

  it('accepts extension grant types that are absolute URIs', () => {
    const deviceCode = 'urn:ietf:params:oauth:grant-type:device_code';
    expect(validate({ grant_types: [deviceCode] }).grantTypes).toEqual([deviceCode]);
  });

  it('adds refresh_token to the password grant, once', () => {
    expect(validate({ grant_types: ['password'] }).grantTypes).toEqual(['password', 'refresh_token']);
    expect(validate({ grant_types: ['refresh_token', 'password'] }).grantTypes).toEqual(['refresh_token', 'password']);
  });

  it('refuses client_credentials for a public client (token_endpoint_auth_method none)', () => {
    invalidMetadata({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, 'confidential');
  });

  it('accepts a public authorization-code client', () => {
    expect(validate({ ...minimal, token_endpoint_auth_method: 'none' }).tokenEndpointAuthMethod).toBe('none');
  });

  it('refuses unknown token endpoint authentication methods', () => {
    invalidMetadata({ ...machine, token_endpoint_auth_method: 'private_key_jwt' }, 'token_endpoint_auth_method');
    invalidMetadata({ ...machine, token_endpoint_auth_method: 42 }, 'token_endpoint_auth_method');
  });
});

describe('validateClientMetadata keys', () => {
  const publicJwk = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' };

  it('accepts a public JWK Set', () => {
    expect(validate({ ...machine, jwks: { keys: [publicJwk] } }).metadata.jwks).toEqual({ keys: [publicJwk] });
  });

  it('refuses jwks together with jwks_uri', () => {
    invalidMetadata({ ...machine, jwks: { keys: [publicJwk] }, jwks_uri: 'https://app.example.com/jwks.json' }, 'mutually exclusive');
  });

  it('refuses private or symmetric key material in jwks', () => {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      invalidMetadata({ ...machine, jwks: { keys: [{ ...publicJwk, [member]: 'secret' }] } }, 'public keys only');
    }
  });

  it('refuses a jwks that is not a key set, or keys without kty', () => {
    invalidMetadata({ ...machine, jwks: [publicJwk] }, 'jwks');
    invalidMetadata({ ...machine, jwks: { keys: [{ crv: 'P-256' }] } }, 'kty');
    invalidMetadata({ ...machine, jwks: { keys: [null] } }, 'kty');
  });

  it('refuses a jwks_uri that is not https', () => {
    invalidMetadata({ ...machine, jwks_uri: 'http://app.example.com/jwks.json' }, 'https');
  });
});

describe('validateClientMetadata scope', () => {
  it('accepts space-separated scope tokens and removes duplicates', () => {
    expect(validate({ ...machine, scope: 'notes:read  notes:write notes:read' }).scopes).toEqual(['notes:read', 'notes:write']);
  });

  it('refuses characters outside the RFC 6749 scope-token syntax', () => {
    for (const scope of ['notes "read"', 'notes\\read', 'notes\tread', 'é']) invalidMetadata({ ...machine, scope }, 'scope');
  });

  it('refuses an empty scope', () => {
    invalidMetadata({ ...machine, scope: '   ' }, 'scope');
    invalidMetadata({ ...machine, scope: '' }, 'scope');
    invalidMetadata({ ...machine, scope: ['openid'] }, 'scope');
  });
});

describe('validateClientMetadata client_id and secrets', () => {
  it('refuses a client_id unless the caller allows one', () => {
    invalidMetadata({ ...machine, client_id: 'my-client' }, 'client_id');
  });

  it('keeps an allowed client_id of the permitted characters', () => {
    expect(validate({ ...machine, client_id: 'my-client_1.a~b' }, true).clientId).toBe('my-client_1.a~b');
  });

  it('refuses an allowed client_id with other characters or more than 128 of them', () => {
    for (const clientId of ['has space', 'slash/', '', 'x'.repeat(129), 42]) {
      const error = rejection({ ...machine, client_id: clientId }, true);
      expect(error.code).toBe('invalid_client_metadata');
    }
    expect(validate({ ...machine, client_id: 'x'.repeat(128) }, true).clientId).toHaveLength(128);
  });

  it('refuses a client_secret chosen by the client', () => {
    invalidMetadata({ ...machine, client_secret: 'mine' }, 'client_secret');
  });
});

describe('validateClientMetadata lifetimes and other fields', () => {
  it('accepts token lifetimes within bounds', () => {
    const registration = validate({ ...machine, access_token_ttl: 30, refresh_token_ttl: MAX_CLIENT_REFRESH_TOKEN_TTL });
    expect(registration.accessTokenTtl).toBe(30);
    expect(registration.refreshTokenTtl).toBe(MAX_CLIENT_REFRESH_TOKEN_TTL);
    expect(validate({ ...machine, access_token_ttl: MAX_CLIENT_ACCESS_TOKEN_TTL }).accessTokenTtl).toBe(MAX_CLIENT_ACCESS_TOKEN_TTL);
  });

  it('refuses lifetimes below 30 seconds, above the maximum, fractional or not numbers', () => {
    for (const value of [29, 0, -1, MAX_CLIENT_ACCESS_TOKEN_TTL + 1, 60.5, '60']) invalidMetadata({ ...machine, access_token_ttl: value }, 'access_token_ttl');
    for (const value of [29, MAX_CLIENT_REFRESH_TOKEN_TTL + 1]) invalidMetadata({ ...machine, refresh_token_ttl: value }, 'refresh_token_ttl');
  });

  it('requires audience entries to be absolute URIs', () => {
    expect(validate({ ...machine, audience: ['https://api.example.com', 'urn:example:api'] }).audience).toEqual(['https://api.example.com', 'urn:example:api']);
    invalidMetadata({ ...machine, audience: ['api'] }, 'audience');
  });

  it('requires first_party to be a boolean', () => {
    expect(validate({ ...machine, first_party: true }).firstParty).toBe(true);
    invalidMetadata({ ...machine, first_party: 'yes' }, 'first_party');
  });

  it('bounds client_name to 200 characters', () => {
    expect(validate({ ...machine, client_name: 'x'.repeat(200) }).clientName).toHaveLength(200);
    invalidMetadata({ ...machine, client_name: 'x'.repeat(201) }, 'client_name');
  });
});

describe('parseScope and isLoopbackHost', () => {
  it('parseScope splits on spaces, drops empty tokens and duplicates, and refuses bad characters', () => {
    expect(parseScope(' a  b a ')).toEqual(['a', 'b']);
    expect(parseScope('')).toEqual([]);
    expect(parseScope('a "b"')).toBeUndefined();
  });

  it('isLoopbackHost knows localhost, 127.0.0.0/8 and [::1] only', () => {
    for (const host of ['localhost', '127.0.0.1', '127.255.0.9', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['localhost.example', '128.0.0.1', '::1', '0.0.0.0', 'example.com']) expect(isLoopbackHost(host)).toBe(false);
  });
});
