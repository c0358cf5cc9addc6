import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, basicFor, clientPost, expectOAuthError, JsonBody, obtainToken, postForm, request, TokenSet, waitUntil } from '../helpers/http';
import { startTestApp, TestApp, TestClient, TestInstance } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/** RFC 7009 token revocation at POST /oauth/revoke. */
describe('token revocation', () => {
  let t: TestApp;
  /** A second instance over the same database. */
  let b: TestInstance;
  let app: TestClient;
  let other: TestClient;
  let spa: TestClient;
  let resourceServer: TestClient;

  beforeAll(async () => {
    t = await startTestApp();
    b = await t.startInstance();
    app = await t.createClient({ client_id: 'app', grant_types: ['password'], scope: 'notes:read notes:write' });
    other = await t.createClient({ client_id: 'other-app', grant_types: ['password', 'client_credentials'], scope: 'notes:read notes:write' });
    spa = await t.createClient({ client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['password'], scope: 'notes:read' });
    resourceServer = await t.createClient({ client_id: 'resource-server', grant_types: ['client_credentials'], scope: 'notes:read' });
    await t.createUser({ username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  const login = (client: TestClient = app): Promise<TokenSet> =>
    obtainToken(t.baseUrl, client, { grant_type: 'password', username: 'alice', password: PASSWORD });
  const revoke = (client: TestClient, token: string | undefined, hint?: string, baseUrl = t.baseUrl) =>
    clientPost(baseUrl, '/oauth/revoke', client, { token, token_type_hint: hint });
  const refresh = (client: TestClient, refreshToken: string) =>
    clientPost(t.baseUrl, '/oauth/token', client, { grant_type: 'refresh_token', refresh_token: refreshToken });
  const introspect = async (token: string) => (await clientPost<JsonBody>(t.baseUrl, '/oauth/introspect', resourceServer, { token })).body;
  const meStatus = async (token: string, baseUrl = t.baseUrl) => (await api(baseUrl, '/api/me', token)).status;

  it('answers 200 with an empty body and no caching', async () => {
    const tokens = await login();
    const result = await revoke(app, tokens.refresh_token);
    expect(result.status, result.text).toBe(200);
    expect(result.text).toBe('');
    expect(result.headers.get('cache-control')).toBe('no-store');
  });

  it('revoking a refresh token ends its grant: the refresh token and the access tokens issued under it', async () => {
    const first = await login();
    const second = (await refresh(app, first.refresh_token!)).body as unknown as TokenSet;
    expect(await meStatus(first.access_token)).toBe(200);
    expect(await meStatus(second.access_token)).toBe(200);

    expect((await revoke(app, second.refresh_token, 'refresh_token')).status).toBe(200);

    expectOAuthError(await refresh(app, second.refresh_token!), 400, 'invalid_grant');
    expect(await meStatus(first.access_token)).toBe(401);
    expect(await meStatus(second.access_token)).toBe(401);
    expect(await introspect(second.access_token)).toEqual({ active: false });
    expect(await introspect(second.refresh_token!)).toEqual({ active: false });
  });

  it('revokes a refresh token sent without a token_type_hint', async () => {
    const tokens = await login();
    expect((await revoke(app, tokens.refresh_token)).status).toBe(200);
    expectOAuthError(await refresh(app, tokens.refresh_token!), 400, 'invalid_grant');
  });

  it('revoking an access token makes the resource API refuse it', async () => {
    const tokens = await login();
    expect(await meStatus(tokens.access_token)).toBe(200); // verified once, now cached
    expect((await revoke(app, tokens.access_token, 'access_token')).status).toBe(200);
    expect(await meStatus(tokens.access_token)).toBe(401);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
  });

  it('revokes an access token sent without a hint, or with the wrong hint (RFC 7009 §2.1)', async () => {
    const withoutHint = await login();
    const wrongHint = await login();
    expect((await revoke(app, withoutHint.access_token)).status).toBe(200);
    expect((await revoke(app, wrongHint.access_token, 'refresh_token')).status).toBe(200);
    expect(await meStatus(withoutHint.access_token)).toBe(401);
    expect(await meStatus(wrongHint.access_token)).toBe(401);
  });

  it('revokes a refresh token sent with the wrong hint (RFC 7009 §2.1)', async () => {
    const tokens = await login();
    expect((await revoke(app, tokens.refresh_token, 'access_token')).status).toBe(200);
    expectOAuthError(await refresh(app, tokens.refresh_token!), 400, 'invalid_grant');
  });

  it('revokes a client_credentials access token', async () => {
    const tokens = await obtainToken(t.baseUrl, other, { grant_type: 'client_credentials' });
    expect((await revoke(other, tokens.access_token)).status).toBe(200);
    expect(await meStatus(tokens.access_token)).toBe(401);
  });

  it('answers 200 for an unknown or malformed token (RFC 7009 §2.2)', async () => {
    for (const token of ['not-a-token', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', 'x'.repeat(4000)]) {
      const result = await revoke(app, token);
      expect(result.status, `${token.slice(0, 20)}: ${result.text}`).toBe(200);
    }
  });

  it("does not revoke another client's tokens (and still answers 200)", async () => {
    const tokens = await login(app);
    expect((await revoke(other, tokens.refresh_token)).status).toBe(200);
    expect((await revoke(other, tokens.access_token)).status).toBe(200);
    expect(await meStatus(tokens.access_token)).toBe(200);
    expect((await refresh(app, tokens.refresh_token!)).status).toBe(200);
  });

  it('lets a public client revoke its own tokens with its client_id', async () => {
    const tokens = await login(spa);
    expect((await revoke(spa, tokens.refresh_token)).status).toBe(200);
    expectOAuthError(await refresh(spa, tokens.refresh_token!), 400, 'invalid_grant');
    expect(await meStatus(tokens.access_token)).toBe(401);
  });

  it('refuses a request without a token with invalid_request', async () => {
    expectOAuthError(await revoke(app, undefined), 400, 'invalid_request');
  });

  it('refuses an unauthenticated request with 401 invalid_client', async () => {
    const tokens = await login();
    expectOAuthError(await postForm(`${t.baseUrl}/oauth/revoke`, { token: tokens.refresh_token }), 401, 'invalid_client');
    expectOAuthError(
      await postForm(`${t.baseUrl}/oauth/revoke`, { token: tokens.refresh_token, client_id: 'app', client_secret: 'wrong' }),
      401,
      'invalid_client',
    );
    // Nothing was revoked.
    expect((await refresh(app, tokens.refresh_token!)).status).toBe(200);
  });

  it('refuses a body that is not a form with invalid_request', async () => {
    const result = await request(`${t.baseUrl}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicFor(app) },
      body: JSON.stringify({ token: 'x' }),
    });
    expectOAuthError(result, 400, 'invalid_request');
  });

  it('a revocation on instance A is honoured by the resource API on instance B within a second', async () => {
    const access = await login();
    const refreshed = await login();
    // B has verified (and cached) both tokens before the revocations.
    expect(await meStatus(access.access_token, b.baseUrl)).toBe(200);
    expect(await meStatus(refreshed.access_token, b.baseUrl)).toBe(200);

    expect((await revoke(app, access.access_token, undefined, t.baseUrl)).status).toBe(200);
    expect((await revoke(app, refreshed.refresh_token, undefined, t.baseUrl)).status).toBe(200);

    const elapsed = await waitUntil(
      async () => (await meStatus(access.access_token, b.baseUrl)) === 401 && (await meStatus(refreshed.access_token, b.baseUrl)) === 401,
      1000,
    );
    expect(elapsed).toBeLessThanOrEqual(1000);
  });

  it('a revocation on instance B is honoured by instance A within a second', async () => {
    const tokens = await login();
    expect(await meStatus(tokens.access_token, t.baseUrl)).toBe(200);
    expect((await revoke(app, tokens.access_token, undefined, b.baseUrl)).status).toBe(200);
    await waitUntil(async () => (await meStatus(tokens.access_token, t.baseUrl)) === 401, 1000);
  });
});
