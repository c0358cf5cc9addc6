import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, clientPost, expectOAuthError, JsonBody, jwtHeader, obtainToken, postForm, TokenSet } from '../helpers/http';
import { accessTokenClaims, rawJwt, signWithServerKey, withPayload } from '../helpers/jwt';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/** RFC 7662 token introspection at POST /oauth/introspect. */
describe('token introspection', () => {
  let t: TestApp;
  let resourceServer: TestClient;
  let app: TestClient;
  let spa: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    t = await startTestApp();
    resourceServer = await t.createClient({ client_id: 'resource-server', grant_types: ['client_credentials'], scope: 'notes:read' });
    app = await t.createClient({ client_id: 'app', grant_types: ['password'], scope: 'openid notes:read notes:write' });
    spa = await t.createClient({ client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['password'], scope: 'notes:read' });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
  });
  afterAll(() => t?.close());

  const login = (scope?: string): Promise<TokenSet> => obtainToken(t.baseUrl, app, { grant_type: 'password', username: 'alice', password: PASSWORD, scope });
  const introspect = (token: string | undefined, hint?: string, client: TestClient = resourceServer) =>
    clientPost<JsonBody>(t.baseUrl, '/oauth/introspect', client, { token, token_type_hint: hint });
  const inactive = async (token: string) => {
    const result = await introspect(token);
    expect(result.status, result.text).toBe(200);
    // RFC 7662 §2.2: nothing more about a token that is not active.
    expect(result.body).toEqual({ active: false });
  };

  it('describes an active access token: scope, client_id, sub, exp, iat, token_type', async () => {
    const before = Math.floor(Date.now() / 1000);
    const tokens = await login('openid notes:read');
    const result = await introspect(tokens.access_token);
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.body).toMatchObject({
      active: true,
      scope: 'openid notes:read',
      client_id: 'app',
      sub: aliceId,
      iss: t.config.issuer,
      aud: t.config.accessTokenAudience,
      token_type: 'Bearer',
    });
    expect(result.body.iat).toBeGreaterThanOrEqual(before - 1);
    expect(result.body.exp).toBe((result.body.iat as number) + tokens.expires_in);
    expect(typeof result.body.jti).toBe('string');
  });

  it('describes an active refresh token: scope, client_id, sub, exp', async () => {
    const tokens = await login();
    const result = await introspect(tokens.refresh_token);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ active: true, scope: 'openid notes:read notes:write', client_id: 'app', sub: aliceId, iss: t.config.issuer });
    expect(result.body.exp).toBeGreaterThan(Date.now() / 1000 + t.config.refreshTokenTtl - 60);
  });

  it('finds the token whatever the hint says (RFC 7662 §2.1)', async () => {
    const tokens = await login();
    for (const hint of ['access_token', 'refresh_token', 'something_else']) {
      expect((await introspect(tokens.access_token, hint)).body.active, `access token, hint ${hint}`).toBe(true);
      expect((await introspect(tokens.refresh_token, hint)).body.active, `refresh token, hint ${hint}`).toBe(true);
    }
  });

  it('answers active:false for a revoked access token', async () => {
    const tokens = await login();
    expect((await introspect(tokens.access_token)).body.active).toBe(true);
    expect((await clientPost(t.baseUrl, '/oauth/revoke', app, { token: tokens.access_token })).status).toBe(200);
    await inactive(tokens.access_token);
  });

  it('answers active:false for a revoked refresh token and for the access tokens of its grant', async () => {
    const tokens = await login();
    expect((await clientPost(t.baseUrl, '/oauth/revoke', app, { token: tokens.refresh_token })).status).toBe(200);
    await inactive(tokens.refresh_token!);
    await inactive(tokens.access_token);
  });

  it('answers active:false for a refresh token that has been rotated', async () => {
    const tokens = await login();
    const rotated = await clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(rotated.status).toBe(200);
    await inactive(tokens.refresh_token!);
    expect((await introspect(rotated.body.refresh_token)).body.active).toBe(true);
  });

  it('answers active:false for an expired access token signed by the server itself', async () => {
    const now = Math.floor(Date.now() / 1000);
    const skew = t.config.clockSkew;
    await inactive(signWithServerKey(t, accessTokenClaims(t, { iat: now - 1000, exp: now - skew - 5 })));
    // The control: the same token within its lifetime (or within the clock-skew leeway) is active.
    expect((await introspect(signWithServerKey(t, accessTokenClaims(t, { iat: now - 1000, exp: now + 60 })))).body.active).toBe(true);
    expect((await introspect(signWithServerKey(t, accessTokenClaims(t, { iat: now - 1000, exp: now - Math.floor(skew / 2) })))).body.active).toBe(skew > 0);
  });

  it('answers active:false for a token of another issuer, even signed with the right key', async () => {
    await inactive(signWithServerKey(t, accessTokenClaims(t, { iss: 'https://evil.example' })));
  });

  it('answers active:false for a token whose typ is not at+jwt (e.g. an ID token), even signed with the right key', async () => {
    await inactive(signWithServerKey(t, accessTokenClaims(t), { typ: 'JWT' }));
  });

  it('answers active:false for a tampered token', async () => {
    const tokens = await login();
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString()) as JsonBody;
    await inactive(withPayload(tokens.access_token, { ...claims, scope: 'openid notes:read notes:write admin' }));
    await inactive(`${tokens.access_token.slice(0, -4)}AAAA`);
  });

  it('answers active:false for a token signed by a foreign key under a real kid', async () => {
    const { kid } = jwtHeader((await login()).access_token) as { kid: string };
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await new SignJWT(accessTokenClaims(t)).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
    await inactive(forged);
  });

  it('answers active:false for an unsigned (alg none) token under a real kid', async () => {
    const { kid } = jwtHeader((await login()).access_token) as { kid: string };
    await inactive(rawJwt({ alg: 'none', typ: 'at+jwt', kid }, accessTokenClaims(t)));
  });

  it('answers active:false for garbage and malformed tokens', async () => {
    for (const token of ['garbage', 'a.b.c', '...', 'eyJhbGciOiJub25lIn0.e30.', 'x'.repeat(4000), '\u00e9\u00e8']) await inactive(token);
  });

  it('refuses public clients with 401 invalid_client', async () => {
    const tokens = await login();
    expectOAuthError(await introspect(tokens.access_token, undefined, spa), 401, 'invalid_client');
  });

  it('refuses unauthenticated requests with 401 invalid_client', async () => {
    const tokens = await login();
    expectOAuthError(await postForm(`${t.baseUrl}/oauth/introspect`, { token: tokens.access_token }), 401, 'invalid_client');
    const wrongSecret = await postForm(`${t.baseUrl}/oauth/introspect`, { token: tokens.access_token }, { authorization: basic('resource-server', 'wrong') });
    expectOAuthError(wrongSecret, 401, 'invalid_client');
    expect(wrongSecret.headers.get('www-authenticate')).toMatch(/^Basic\b/i);
  });

  it('refuses a request without a token with invalid_request', async () => {
    expectOAuthError(await introspect(undefined), 400, 'invalid_request');
  });
});
