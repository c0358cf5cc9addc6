import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, expectOAuthError, HttpResult, JsonBody, postForm, request, waitUntil } from '../helpers/http';
import { startTestApp, TestApp } from '../helpers/test-app';

const INITIAL_ACCESS_TOKEN = 'initial-access-token-for-tests-0123456789';
const REDIRECT = 'https://rp.example.com/callback';

type Registered = JsonBody & { client_id: string; client_secret?: string; registration_access_token: string; registration_client_uri: string };

/** POST /oauth/register with a JSON body (or any body and content type). */
function register(app: TestApp, body: unknown, init: { headers?: Record<string, string>; raw?: string } = {}): Promise<HttpResult<Registered>> {
  return request<Registered>(`${app.baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.raw ?? JSON.stringify(body),
  });
}

/** A registration that must succeed. */
async function registered(app: TestApp, body: unknown, headers: Record<string, string> = {}): Promise<Registered> {
  const result = await register(app, body, { headers });
  expect(result.status, result.text).toBe(201);
  return result.body;
}

/** An RFC 7592 request to the client configuration endpoint. */
function manage(client: Registered, method: 'GET' | 'PUT' | 'DELETE', token: string | undefined = client.registration_access_token, body?: unknown) {
  return request<Registered>(client.registration_client_uri, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function clientCredentials(app: TestApp, client: { client_id: string; client_secret?: string }, scope = 'notes:read') {
  return postForm(`${app.baseUrl}/oauth/token`, { grant_type: 'client_credentials', scope }, { authorization: basic(client.client_id, client.client_secret!) });
}

const MACHINE = { client_name: 'Reports', grant_types: ['client_credentials'], response_types: [], scope: 'notes:read notes:write' };

/**
 * RFC 7591 dynamic client registration and RFC 7592 client management, with the
 * OpenID Connect Dynamic Client Registration 1.0 checks that the OpenID conformance
 * suite's dynamic plan (oidcc-dynamic-certification-test-plan) makes: its modules are
 * named in the test titles.
 */
describe('dynamic client registration (RFC 7591, RFC 7592, OpenID Connect Dynamic Client Registration 1.0)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { REGISTRATION_RATE_LIMIT: '1000' } });
  });
  afterAll(() => t?.close());

  describe('discovery', () => {
    it('oidcc-discovery-endpoint-verification: advertises registration_endpoint in both metadata documents', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const result = await request(`${t.baseUrl}${path}`);
        expect(result.body.registration_endpoint).toBe(`${t.config.issuer}/oauth/register`);
      }
    });
  });

  describe('registration (RFC 7591 section 3)', () => {
    it('registers a confidential client_credentials client: 201, no-store, secret, registration access token and URI', async () => {
      const result = await register(t, MACHINE);
      expect(result.status, result.text).toBe(201);
      expect(result.headers.get('cache-control')).toBe('no-store');
      expect(result.headers.get('content-type')).toMatch(/^application\/json/);
      const body = result.body;
      expect(body).toMatchObject({
        client_name: 'Reports',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'notes:read notes:write',
        client_secret_expires_at: 0,
        first_party: false,
        require_pkce: true,
      });
      expect(body.client_id).toMatch(/^[\w-]{20,}$/);
      expect(body.client_secret).toMatch(/^[\w-]{43}$/);
      expect(body.client_id_issued_at).toBeCloseTo(Date.now() / 1000, -2);
      expect(body.registration_access_token).toMatch(/^[\w-]{43}$/);
      expect(body.registration_client_uri).toBe(`${t.config.issuer}/oauth/register/${body.client_id}`);
    });

    it('oidcc-server (dynamic plan): the issued credentials obtain a client_credentials token that the API accepts', async () => {
      const client = await registered(t, MACHINE);
      const token = await clientCredentials(t, client, 'notes:read');
      expect(token.status, token.text).toBe(200);
      const me = await request(`${t.baseUrl}/api/me`, { headers: { authorization: `Bearer ${token.body.access_token as string}` } });
      expect(me.status, me.text).toBe(200);
      expect(me.body).toMatchObject({ sub: client.client_id, client_id: client.client_id });
    });

    it('stores only the SHA-256 of the registration access token', async () => {
      const client = await registered(t, MACHINE);
      const rows = (await t.app
        .get(DataSource)
        .query(`SELECT registration_access_token_hash AS hash FROM clients WHERE client_id = $1`, [client.client_id])) as { hash: string }[];
      expect(rows[0].hash).toBe(createHash('sha256').update(client.registration_access_token).digest('base64url'));
    });

    it('oidcc-server (dynamic plan): openid-client dynamicClientRegistration() registers through OpenID discovery, then runs client_credentials', async () => {
      const config = await oidc.dynamicClientRegistration(
        new URL(t.config.issuer),
        { ...MACHINE, token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        {
          execute: [oidc.allowInsecureRequests],
        },
      );
      const metadata = config.clientMetadata();
      expect(metadata.client_id).toEqual(expect.any(String));
      expect(metadata.client_secret).toEqual(expect.any(String));
      expect(metadata.registration_client_uri).toBe(`${t.config.issuer}/oauth/register/${metadata.client_id}`);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'notes:write' });
      expect(tokens.scope).toBe('notes:write');
    });

    it('oidcc-server (dynamic plan): a dynamically registered web client is known to the authorization endpoint', async () => {
      const config = await oidc.dynamicClientRegistration(
        new URL(t.config.issuer),
        { redirect_uris: [REDIRECT], response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile' },
        undefined,
        { execute: [oidc.allowInsecureRequests] },
      );
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: oidc.randomState(),
      });
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('data-page="login"');
    });

    it('registers a public client (token_endpoint_auth_method none) without a secret', async () => {
      const client = await registered(t, { redirect_uris: ['http://127.0.0.1:7001/cb'], token_endpoint_auth_method: 'none' });
      expect(client.client_secret).toBeUndefined();
      expect(client.client_secret_expires_at).toBeUndefined();
      expect(client).toMatchObject({ token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], require_pkce: true });
    });

    it('oidcc-registration-logo-uri, oidcc-registration-policy-uri, oidcc-registration-tos-uri: keeps and returns them', async () => {
      const uris = { logo_uri: 'https://rp.example.com/logo.png', policy_uri: 'https://rp.example.com/policy', tos_uri: 'https://rp.example.com/tos' };
      const client = await registered(t, { redirect_uris: [REDIRECT], ...uris, contacts: ['ops@rp.example.com'] });
      expect(client).toMatchObject({ ...uris, contacts: ['ops@rp.example.com'] });
      expect((await manage(client, 'GET')).body).toMatchObject(uris);
    });

    it('oidcc-registration-jwks and oidcc-registration-jwks-uri: keeps a public JWK set or its URI', async () => {
      const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
      expect(await registered(t, { redirect_uris: [REDIRECT], jwks })).toMatchObject({ jwks });
      expect(await registered(t, { redirect_uris: [REDIRECT], jwks_uri: 'https://rp.example.com/jwks.json' })).toMatchObject({
        jwks_uri: 'https://rp.example.com/jwks.json',
      });
    });

    it('accepts and ignores the harmless extension values its own responses carry (first_party false, require_pkce true)', async () => {
      const client = await registered(t, { ...MACHINE, first_party: false, require_pkce: true, allow_plain_pkce: false, audience: [] });
      expect(client).toMatchObject({ first_party: false, require_pkce: true });
      expect(client.audience).toBeUndefined();
      expect(client.allow_plain_pkce).toBeUndefined();
    });

    it('ignores a Bearer header when no initial access token is configured', async () => {
      expect((await register(t, MACHINE, { headers: { authorization: 'Bearer anything' } })).status).toBe(201);
    });
  });

  describe('refused metadata (RFC 7591 section 3.2.2): 400, never 500', () => {
    it.each([
      ['oidcc-redirect-uri-regfrag: a redirect URI with a fragment', { redirect_uris: [`${REDIRECT}#frag`] }, 'invalid_redirect_uri'],
      ['a plain-http redirect URI on a non-loopback host', { redirect_uris: ['http://rp.example.com/callback'] }, 'invalid_redirect_uri'],
      ['a relative redirect URI', { redirect_uris: ['/callback'] }, 'invalid_redirect_uri'],
      ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      ['the authorization_code grant without redirect_uris', { grant_types: ['authorization_code'] }, 'invalid_redirect_uri'],
      ['both jwks and jwks_uri', { redirect_uris: [REDIRECT], jwks: { keys: [] }, jwks_uri: 'https://rp.example.com/jwks.json' }, 'invalid_client_metadata'],
      ['a private key in jwks', { redirect_uris: [REDIRECT], jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'invalid_client_metadata'],
      ['an unknown grant type', { grant_types: ['magic'], response_types: [] }, 'invalid_client_metadata'],
      [
        'response type code without the authorization_code grant',
        { grant_types: ['client_credentials'], response_types: ['code'], redirect_uris: [REDIRECT] },
        'invalid_client_metadata',
      ],
      ['response type token without the implicit grant', { redirect_uris: [REDIRECT], response_types: ['code', 'token'] }, 'invalid_client_metadata'],
      ['an unknown response type', { redirect_uris: [REDIRECT], response_types: ['code', 'magic'] }, 'invalid_client_metadata'],
      ['an unknown token_endpoint_auth_method', { ...MACHINE, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      ['client_credentials for a public client', { ...MACHINE, token_endpoint_auth_method: 'none' }, 'invalid_client_metadata'],
      ['redirect_uris that is not a list', { redirect_uris: REDIRECT }, 'invalid_client_metadata'],
      ['a malformed scope', { ...MACHINE, scope: 'a "b"' }, 'invalid_client_metadata'],
      ['a client_id chosen by the client', { ...MACHINE, client_id: 'my-own-id' }, 'invalid_client_metadata'],
      ['a client_secret chosen by the client', { ...MACHINE, client_secret: 'my-own-secret' }, 'invalid_client_metadata'],
      ['first_party: true (skipping consent is for the administrator to grant)', { ...MACHINE, first_party: true }, 'invalid_client_metadata'],
      ['an audience (tokens for other resource servers)', { ...MACHINE, audience: ['https://other.example.com/api'] }, 'invalid_client_metadata'],
      ['require_pkce: false', { redirect_uris: [REDIRECT], require_pkce: false }, 'invalid_client_metadata'],
      ['allow_plain_pkce: true', { redirect_uris: [REDIRECT], allow_plain_pkce: true }, 'invalid_client_metadata'],
      ['an unknown subject_type', { redirect_uris: [REDIRECT], subject_type: 'random' }, 'invalid_client_metadata'],
      ['an array body', [MACHINE], 'invalid_client_metadata'],
      ['a JSON string body', 'client', 'invalid_client_metadata'],
      ['a JSON null body', null, 'invalid_client_metadata'],
    ])('refuses %s', async (_, body, error) => {
      const result = await register(t, body);
      expectOAuthError(result, 400, error);
    });

    it.each([
      ['a body that is not JSON', 'application/json', '{"redirect_uris": ['],
      ['an empty JSON body', 'application/json', ''],
      ['a form body', 'application/x-www-form-urlencoded', 'client_name=x&grant_types=client_credentials'],
      ['a text/plain body', 'text/plain', JSON.stringify(MACHINE)],
      ['a __proto__ key', 'application/json', '{"__proto__": {"first_party": true}, "grant_types": ["client_credentials"]}'],
    ])('answers invalid_request to %s', async (_, type, raw) => {
      expectOAuthError(await register(t, undefined, { headers: { 'content-type': type }, raw }), 400, 'invalid_request');
    });

    it('answers 413 invalid_request to a body over 64 KiB', async () => {
      const result = await register(t, { ...MACHINE, client_name: 'x'.repeat(70 * 1024) });
      expectOAuthError(result, 413, 'invalid_request');
    });

    it('registers nothing when it refuses', async () => {
      const before = (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM clients`)) as { n: number }[];
      await register(t, { ...MACHINE, first_party: true });
      const after = (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM clients`)) as { n: number }[];
      expect(after[0].n).toBe(before[0].n);
    });
  });

  describe('client configuration endpoint (RFC 7592)', () => {
    it('reads the client with its registration access token (RFC 7592 section 2.1), without the secret', async () => {
      const client = await registered(t, { ...MACHINE, logo_uri: 'https://rp.example.com/logo.png' });
      const result = await manage(client, 'GET');
      expect(result.status, result.text).toBe(200);
      expect(result.headers.get('cache-control')).toBe('no-store');
      const { client_secret: _secret, client_secret_expires_at: _expires, ...expected } = client;
      expect(result.body).toEqual(expected);
    });

    it('refuses a wrong, missing or malformed token, another client`s token, an unknown client and a CLI-created client alike: 401 invalid_token', async () => {
      const client = await registered(t, MACHINE);
      const other = await registered(t, MACHINE);
      const cliClient = await t.createClient({ grant_types: ['client_credentials'], scope: 'notes:read' });
      const attempts: [string, string | undefined][] = [
        [client.registration_client_uri, 'wrong-token'],
        [client.registration_client_uri, undefined],
        [client.registration_client_uri, `${client.registration_access_token} extra`],
        [client.registration_client_uri, other.registration_access_token],
        [`${t.baseUrl}/oauth/register/no-such-client`, client.registration_access_token],
        [`${t.baseUrl}/oauth/register/${cliClient.client_id}`, client.registration_access_token],
        [`${t.baseUrl}/oauth/register/${cliClient.client_id}`, undefined],
      ];
      const descriptions = new Set<unknown>();
      for (const [uri, token] of attempts) {
        for (const method of ['GET', 'PUT', 'DELETE'] as const) {
          const result = await request(uri, {
            method,
            headers: {
              ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
              ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}),
            },
            body: method === 'PUT' ? JSON.stringify({ ...MACHINE, client_id: uri.split('/').pop() }) : undefined,
          });
          expectOAuthError(result, 401, 'invalid_token');
          expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"$/);
          descriptions.add(result.body.error_description);
        }
      }
      // Nothing tells a missing client from a wrong token.
      expect(descriptions.size).toBe(1);
      // ... and nothing was changed.
      expect((await clientCredentials(t, client)).status).toBe(200);
      expect((await manage(client, 'GET')).body.client_name).toBe('Reports');
    });

    it('replaces the metadata as a whole (RFC 7592 section 2.2), keeping the secret', async () => {
      const client = await registered(t, { ...MACHINE, logo_uri: 'https://rp.example.com/logo.png' });
      const result = await manage(client, 'PUT', undefined, {
        client_id: client.client_id,
        client_name: 'Reports v2',
        grant_types: ['client_credentials'],
        response_types: [],
        scope: 'notes:read',
      });
      expect(result.status, result.text).toBe(200);
      expect(result.headers.get('cache-control')).toBe('no-store');
      expect(result.body).toMatchObject({
        client_id: client.client_id,
        client_name: 'Reports v2',
        scope: 'notes:read',
        registration_access_token: client.registration_access_token,
        registration_client_uri: client.registration_client_uri,
      });
      expect(result.body.client_secret).toBeUndefined();
      expect(result.body.logo_uri).toBeUndefined(); // omitted, so removed
      expect((await manage(client, 'GET')).body).toEqual(result.body);
      // The same secret still works, within the new scope only.
      expect((await clientCredentials(t, client, 'notes:read')).status).toBe(200);
      await waitUntil(async () => (await clientCredentials(t, client, 'notes:write')).body.error === 'invalid_scope', 5000);
    });

    it('accepts a read response sent back as an update, with the current client_secret', async () => {
      const client = await registered(t, MACHINE);
      const read = (await manage(client, 'GET')).body;
      const result = await manage(client, 'PUT', undefined, { ...read, client_secret: client.client_secret, client_name: 'Renamed' });
      expect(result.status, result.text).toBe(200);
      expect(result.body.client_name).toBe('Renamed');
    });

    it('gives a public client that becomes confidential a secret, once', async () => {
      const client = await registered(t, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
      const result = await manage(client, 'PUT', undefined, { client_id: client.client_id, ...MACHINE });
      expect(result.status, result.text).toBe(200);
      expect(result.body.client_secret).toMatch(/^[\w-]{43}$/);
      await waitUntil(async () => (await clientCredentials(t, { client_id: client.client_id, client_secret: result.body.client_secret })).status === 200, 5000);
    });

    it.each([
      ['no client_id', (_c: Registered) => ({ ...MACHINE }), 'invalid_client_metadata'],
      ['another client_id', (_c: Registered) => ({ ...MACHINE, client_id: 'someone-else' }), 'invalid_client_metadata'],
      ['a wrong client_secret', (c: Registered) => ({ ...MACHINE, client_id: c.client_id, client_secret: 'wrong' }), 'invalid_client_metadata'],
      ['first_party: true', (c: Registered) => ({ ...MACHINE, client_id: c.client_id, first_party: true }), 'invalid_client_metadata'],
      ['require_pkce: false', (c: Registered) => ({ client_id: c.client_id, redirect_uris: [REDIRECT], require_pkce: false }), 'invalid_client_metadata'],
      ['allow_plain_pkce: true', (c: Registered) => ({ client_id: c.client_id, redirect_uris: [REDIRECT], allow_plain_pkce: true }), 'invalid_client_metadata'],
      ['an http redirect URI', (c: Registered) => ({ client_id: c.client_id, redirect_uris: ['http://rp.example.com/cb'] }), 'invalid_redirect_uri'],
      ['an array body', (c: Registered) => [{ ...MACHINE, client_id: c.client_id }], 'invalid_client_metadata'],
    ])('refuses an update with %s and changes nothing', async (_, body, error) => {
      const client = await registered(t, MACHINE);
      expectOAuthError(await manage(client, 'PUT', undefined, body(client)), 400, error);
      expect((await manage(client, 'GET')).body).toMatchObject({ client_name: 'Reports', scope: 'notes:read notes:write' });
    });

    it('refuses an update that is not JSON', async () => {
      const client = await registered(t, MACHINE);
      const result = await request(client.registration_client_uri, {
        method: 'PUT',
        headers: { authorization: `Bearer ${client.registration_access_token}`, 'content-type': 'text/plain' },
        body: JSON.stringify({ ...MACHINE, client_id: client.client_id }),
      });
      expectOAuthError(result, 400, 'invalid_request');
    });

    it('deletes the client (RFC 7592 section 2.3): 204, then its token, credentials and URI stop working', async () => {
      const client = await registered(t, MACHINE);
      expect((await clientCredentials(t, client)).status).toBe(200);
      const result = await manage(client, 'DELETE');
      expect(result.status, result.text).toBe(204);
      expect(result.text).toBe('');
      expectOAuthError(await manage(client, 'GET'), 401, 'invalid_token');
      expectOAuthError(await manage(client, 'DELETE'), 401, 'invalid_token');
      await waitUntil(async () => (await clientCredentials(t, client)).status === 401, 5000);
      expectOAuthError(await clientCredentials(t, client), 401, 'invalid_client');
    });
  });

  describe('REGISTRATION_INITIAL_ACCESS_TOKEN (RFC 7591 section 3: protected registration)', () => {
    let guarded: TestApp;
    beforeAll(async () => {
      guarded = await startTestApp({ env: { REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN } });
    });
    afterAll(() => guarded?.close());

    it('refuses a registration without the initial access token: 401 invalid_token with a Bearer challenge', async () => {
      const result = await register(guarded, MACHINE);
      expectOAuthError(result, 401, 'invalid_token');
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    });

    it.each([
      ['a wrong token', `Bearer ${INITIAL_ACCESS_TOKEN}x`],
      ['a prefix of the token', `Bearer ${INITIAL_ACCESS_TOKEN.slice(0, 10)}`],
      ['Basic authentication', basic('a', INITIAL_ACCESS_TOKEN)],
    ])('refuses %s: 401 invalid_token', async (_, authorization) => {
      const result = await register(guarded, MACHINE, { headers: { authorization } });
      expectOAuthError(result, 401, 'invalid_token');
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    });

    it('checks the token before the body', async () => {
      expectOAuthError(await register(guarded, undefined, { headers: { 'content-type': 'text/plain' }, raw: 'x' }), 401, 'invalid_token');
    });

    it('registers with the right token, and the client works', async () => {
      const client = await registered(guarded, MACHINE, { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` });
      expect((await clientCredentials(guarded, client)).status).toBe(200);
      // The registration access token, not the initial one, manages the client.
      expectOAuthError(await manage(client, 'GET', INITIAL_ACCESS_TOKEN), 401, 'invalid_token');
      expect((await manage(client, 'GET')).status).toBe(200);
    });

    it('oidcc-server (dynamic plan): openid-client dynamicClientRegistration() with initialAccessToken', async () => {
      const options = { execute: [oidc.allowInsecureRequests] };
      await expect(oidc.dynamicClientRegistration(new URL(guarded.config.issuer), MACHINE, undefined, options)).rejects.toThrow();
      const config = await oidc.dynamicClientRegistration(new URL(guarded.config.issuer), MACHINE, undefined, {
        ...options,
        initialAccessToken: INITIAL_ACCESS_TOKEN,
      });
      expect(config.clientMetadata().client_id).toEqual(expect.any(String));
    });
  });

  describe('REGISTRATION_ENABLED=false', () => {
    let closed: TestApp;
    beforeAll(async () => {
      closed = await startTestApp({ env: { REGISTRATION_ENABLED: 'false' } });
    });
    afterAll(() => closed?.close());

    it('answers 404 not_found with a clear description and advertises no registration_endpoint', async () => {
      const result = await register(closed, MACHINE);
      expectOAuthError(result, 404, 'not_found');
      expect(result.body.error_description).toMatch(/registration is turned off/);
      expect((await request(`${closed.baseUrl}/.well-known/openid-configuration`)).body.registration_endpoint).toBeUndefined();
      expectOAuthError(await request(`${closed.baseUrl}/oauth/register/anything`), 404, 'not_found');
    });
  });

  describe('REGISTRATION_RATE_LIMIT', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await startTestApp({ env: { REGISTRATION_RATE_LIMIT: '3' } });
    });
    afterAll(() => limited?.close());

    it('answers 429 too_many_requests with Retry-After once an address has registered its limit in a minute, refused attempts included', async () => {
      expect((await register(limited, MACHINE)).status).toBe(201);
      expect((await register(limited, { ...MACHINE, first_party: true })).status).toBe(400);
      expect((await register(limited, MACHINE)).status).toBe(201);
      const result = await register(limited, MACHINE);
      expectOAuthError(result, 429, 'too_many_requests');
      expect(Number(result.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(result.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    });
  });
});
