import { importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrantRegistry } from '../../src/auth/grants/grant-registry';
import { JsonBody, jwtHeader, obtainToken, postForm, request } from '../helpers/http';
import { startTestApp, TestApp } from '../helpers/test-app';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** RFC 8414 metadata, the RFC 7517 key set, health and docs. */
describe('metadata, JWKS, health and docs', () => {
  let t: TestApp;
  let metadata: JsonBody;

  beforeAll(async () => {
    t = await startTestApp();
    const result = await request(`${t.baseUrl}/.well-known/oauth-authorization-server`);
    expect(result.status, result.text).toBe(200);
    metadata = result.body;
  });
  afterAll(() => t?.close());

  describe('/.well-known/oauth-authorization-server', () => {
    it('is JSON, names the configured issuer, and may be cached', async () => {
      const result = await request(`${t.baseUrl}/.well-known/oauth-authorization-server`);
      expect(result.headers.get('content-type')).toMatch(/^application\/json/);
      expect(result.headers.get('cache-control')).toMatch(/max-age=\d+/);
      expect(metadata.issuer).toBe(t.config.issuer);
      expect(metadata.issuer).toBe(t.baseUrl);
    });

    it('lists the token, JWKS, revocation and introspection endpoints under the issuer', () => {
      expect(metadata).toMatchObject({
        token_endpoint: `${t.baseUrl}/oauth/token`,
        jwks_uri: `${t.baseUrl}/.well-known/jwks.json`,
        revocation_endpoint: `${t.baseUrl}/oauth/revoke`,
        introspection_endpoint: `${t.baseUrl}/oauth/introspect`,
      });
    });

    it('lists endpoints that exist: each answers as its RFC says, not 404', async () => {
      // Unauthenticated POSTs are refused with invalid_client, proving the route is there.
      for (const endpoint of ['token_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
        const result = await postForm(metadata[endpoint] as string, { token: 'x', grant_type: 'client_credentials' });
        expect(result.status, `${endpoint}: ${result.text}`).toBe(401);
        expect(result.body.error).toBe('invalid_client');
      }
      expect((await request(metadata.jwks_uri as string)).status).toBe(200);
      expect((await request(metadata.service_documentation as string)).status).toBe(200);
    });

    it('lists exactly the grant types of the registered grant strategies, plus implicit (an authorization-endpoint grant)', () => {
      const registered = t.app.get(GrantRegistry).grantTypes();
      expect([...(metadata.grant_types_supported as string[])].sort()).toEqual([...registered, 'implicit'].sort());
      expect([...registered].sort()).toEqual(['authorization_code', 'client_credentials', 'password', 'refresh_token']);
    });

    it('lists the client authentication methods the endpoints accept', () => {
      expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
      expect(metadata.revocation_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
      expect(metadata.introspection_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
      // Public clients may not introspect, so "none" is not offered there.
      expect(metadata.introspection_endpoint_auth_methods_supported).not.toContain('none');
    });

    it('lists the scopes of the resource API', () => {
      expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['notes:read', 'notes:write']));
    });
  });

  describe('/.well-known/jwks.json', () => {
    let keys: Record<string, unknown>[];

    beforeAll(async () => {
      const result = await request<{ keys: Record<string, unknown>[] }>(`${t.baseUrl}/.well-known/jwks.json`);
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toMatch(/^application\/json/);
      keys = result.body.keys;
    });

    it('publishes at least the key of the configured signing algorithm', () => {
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.map((key) => key.alg)).toContain(t.config.accessTokenSigningAlg);
    });

    it('gives every key a unique kid, an alg, use "sig" and a kty', () => {
      for (const key of keys) {
        expect(typeof key.kid).toBe('string');
        expect(typeof key.alg).toBe('string');
        expect(key.use).toBe('sig');
        expect(typeof key.kty).toBe('string');
      }
      expect(new Set(keys.map((key) => key.kid)).size).toBe(keys.length);
    });

    it('publishes no private key members (d, p, q, dp, dq, qi, k, oth)', () => {
      for (const key of keys) for (const member of PRIVATE_MEMBERS) expect(key, `${key.kid as string}.${member}`).not.toHaveProperty(member);
    });

    it('publishes keys that import as public keys', async () => {
      for (const key of keys) {
        const imported = await importJWK(key as never, key.alg as string);
        expect((imported as { type?: string }).type, key.alg as string).toBe('public');
      }
    });

    it('contains the kid of the tokens the server issues', async () => {
      const client = await t.createClient({ grant_types: ['client_credentials'], scope: 'notes:read' });
      const { access_token } = await obtainToken(t.baseUrl, client, { grant_type: 'client_credentials' });
      expect(keys.map((key) => key.kid)).toContain(jwtHeader(access_token).kid);
    });
  });

  describe('operations', () => {
    it('GET /health answers 200 while PostgreSQL answers', async () => {
      const result = await request(`${t.baseUrl}/health`);
      expect(result.status, result.text).toBe(200);
      expect(result.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
    });

    it('GET /health/live answers 200 without asking the database', async () => {
      const result = await request(`${t.baseUrl}/health/live`);
      expect(result.status, result.text).toBe(200);
      expect(result.body).toEqual({ status: 'ok' });
      expect(result.headers.get('cache-control')).toBe('no-store');
    });

    it('GET /docs serves the OpenAPI UI', async () => {
      const result = await request(`${t.baseUrl}/docs`);
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toMatch(/^text\/html/);
    });

    it('GET /docs/openapi.json describes the token endpoint and the resource API', async () => {
      const result = await request<{ openapi: string; paths: Record<string, unknown> }>(`${t.baseUrl}/docs/openapi.json`);
      expect(result.status).toBe(200);
      expect(result.body.openapi).toMatch(/^3\./);
      expect(Object.keys(result.body.paths)).toEqual(expect.arrayContaining(['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/api/me', '/api/notes']));
    });

    it('answers an unknown path with a JSON 404', async () => {
      const result = await request(`${t.baseUrl}/no/such/path`);
      expect(result.status).toBe(404);
      expect(result.headers.get('content-type')).toMatch(/^application\/json/);
      expect(result.body).toEqual({ error: 'not_found', error_description: expect.any(String) });
    });
  });
});
