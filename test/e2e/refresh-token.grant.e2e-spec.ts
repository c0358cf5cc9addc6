import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/common/crypto';
import { api, clientPost, expectOAuthError, HttpResult, JsonBody, jwtPayload, obtainToken, TokenSet, waitUntil } from '../helpers/http';
import { startTestApp, TestApp, TestClient, TestInstance } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const FULL_SCOPE = 'openid notes:read notes:write';

/** RFC 6749 §6 refresh with RFC 9700 §4.14 rotation and reuse detection. */
describe('refresh_token grant', () => {
  let t: TestApp;
  /** A second instance over t's database. */
  let b: TestInstance;
  /** Another deployment, with REFRESH_TOKEN_REUSE_GRACE=5s. */
  let graceful: TestApp;
  let app: TestClient;
  let other: TestClient;
  let graceApp: TestClient;

  beforeAll(async () => {
    [t, graceful] = await Promise.all([startTestApp(), startTestApp({ env: { REFRESH_TOKEN_REUSE_GRACE: '5s' } })]);
    b = await t.startInstance();
    const clientMetadata = { grant_types: ['password', 'refresh_token'], scope: FULL_SCOPE };
    app = await t.createClient({ client_id: 'app', ...clientMetadata });
    other = await t.createClient({ client_id: 'other-app', ...clientMetadata });
    graceApp = await graceful.createClient({ client_id: 'app', ...clientMetadata });
    await Promise.all([t.createUser({ username: 'alice', password: PASSWORD }), graceful.createUser({ username: 'alice', password: PASSWORD })]);
  });
  afterAll(async () => {
    await Promise.all([t?.close(), graceful?.close()]);
  });

  const login = (scope?: string, target: TestApp = t, client: TestClient = app): Promise<TokenSet> =>
    obtainToken(target.baseUrl, client, { grant_type: 'password', username: 'alice', password: PASSWORD, scope });

  const refresh = (refreshToken: string, options: { scope?: string; client?: TestClient; baseUrl?: string } = {}) =>
    clientPost<TokenSet & JsonBody>(options.baseUrl ?? t.baseUrl, '/oauth/token', options.client ?? app, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      scope: options.scope,
    });

  const meStatus = async (token: string, baseUrl = t.baseUrl) => (await api(baseUrl, '/api/me', token)).status;

  it('rotates: each use returns a new access token and a new refresh token, under the same grant', async () => {
    const first = await login();
    const result = await refresh(first.refresh_token!);
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(typeof result.body.refresh_token).toBe('string');
    expect(result.body.refresh_token).not.toBe(first.refresh_token);
    expect(result.body.access_token).not.toBe(first.access_token);
    expect(result.body.scope).toBe(FULL_SCOPE);

    const before = jwtPayload(first.access_token);
    const after = jwtPayload(result.body.access_token);
    expect(after.sub).toBe(before.sub);
    expect(after.grant_id).toBe(before.grant_id);
    expect(after.auth_time).toBe(before.auth_time);
    expect(await meStatus(result.body.access_token)).toBe(200);
    // The successor rotates in its turn.
    expect((await refresh(result.body.refresh_token!)).status).toBe(200);
  });

  it('refuses a rotated refresh token with invalid_grant, and revokes its whole family', async () => {
    const first = await login();
    expect(await meStatus(first.access_token)).toBe(200); // now cached by the resource API
    const second = (await refresh(first.refresh_token!)).body;
    expect(await meStatus(second.access_token)).toBe(200);

    expectOAuthError(await refresh(first.refresh_token!), 400, 'invalid_grant');
    // The legitimate successor dies with the family...
    expectOAuthError(await refresh(second.refresh_token!), 400, 'invalid_grant');
    // ...and so does every access token of the grant, within a second.
    await waitUntil(async () => (await meStatus(first.access_token)) === 401 && (await meStatus(second.access_token)) === 401, 1000);
  });

  it('narrows the scope of the new access token when asked, while the grant keeps its scope', async () => {
    const first = await login();
    const narrowed = await refresh(first.refresh_token!, { scope: 'notes:read' });
    expect(narrowed.status, narrowed.text).toBe(200);
    expect(narrowed.body.scope).toBe('notes:read');
    expect(jwtPayload(narrowed.body.access_token).scope).toBe('notes:read');
    // RFC 6749 §6: the new refresh token has the scope of the one presented.
    const next = await refresh(narrowed.body.refresh_token!);
    expect(next.body.scope).toBe(FULL_SCOPE);
  });

  it('refuses a wider scope with invalid_scope, without consuming the token', async () => {
    const first = await login('notes:read');
    // notes:write is registered for the client, but was not granted.
    expectOAuthError(await refresh(first.refresh_token!, { scope: 'notes:read notes:write' }), 400, 'invalid_scope');
    expectOAuthError(await refresh(first.refresh_token!, { scope: 'admin' }), 400, 'invalid_scope');
    const result = await refresh(first.refresh_token!);
    expect(result.status, result.text).toBe(200);
    expect(result.body.scope).toBe('notes:read');
  });

  it('is bound to its client: another client gets invalid_grant, and the token stays usable by its owner', async () => {
    const first = await login();
    expectOAuthError(await refresh(first.refresh_token!, { client: other }), 400, 'invalid_grant');
    expect(await meStatus(first.access_token)).toBe(200);
    expect((await refresh(first.refresh_token!)).status).toBe(200);
  });

  it('refuses an unknown refresh token, or an access token presented as one, with invalid_grant', async () => {
    expectOAuthError(await refresh('not-a-refresh-token'), 400, 'invalid_grant');
    const first = await login();
    expectOAuthError(await refresh(first.access_token), 400, 'invalid_grant');
  });

  it('requires the refresh_token parameter (invalid_request)', async () => {
    expectOAuthError(await clientPost(t.baseUrl, '/oauth/token', app, { grant_type: 'refresh_token' }), 400, 'invalid_request');
  });

  it('refuses a refresh token past its expiry with invalid_grant', async () => {
    const first = await login();
    await t.app
      .get(DataSource)
      .query(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [sha256(first.refresh_token!)]);
    expectOAuthError(await refresh(first.refresh_token!), 400, 'invalid_grant');
  });

  const summarize = (results: HttpResult<TokenSet & JsonBody>[]) => ({
    ok: results.filter((result) => result.status === 200).length,
    invalidGrant: results.filter((result) => result.status === 400 && result.body?.error === 'invalid_grant').length,
    serverErrors: results.filter((result) => result.status >= 500).length,
  });

  it('lets exactly one of 10 parallel uses of one refresh token succeed; the others get invalid_grant, none a 5xx', async () => {
    const first = await login();
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(first.refresh_token!)));
    expect(summarize(results), results.map((result) => `${result.status} ${result.text.slice(0, 80)}`).join('\n')).toEqual({
      ok: 1,
      invalidGrant: 9,
      serverErrors: 0,
    });
  });

  it('lets exactly one succeed when two instances over one database race (5 requests each)', async () => {
    const first = await login();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) => refresh(first.refresh_token!, { baseUrl: index % 2 === 0 ? t.baseUrl : b.baseUrl })),
    );
    expect(summarize(results), results.map((result) => `${result.status} ${result.text.slice(0, 80)}`).join('\n')).toEqual({
      ok: 1,
      invalidGrant: 9,
      serverErrors: 0,
    });
  });

  it('detects reuse on one instance and ends the access tokens on the other within a second', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token!)).body;
    expect(await meStatus(second.access_token, t.baseUrl)).toBe(200);
    expectOAuthError(await refresh(first.refresh_token!, { baseUrl: b.baseUrl }), 400, 'invalid_grant');
    await waitUntil(async () => (await meStatus(second.access_token, t.baseUrl)) === 401, 1000);
  });

  describe('with REFRESH_TOKEN_REUSE_GRACE=5s', () => {
    const refreshGraceful = (refreshToken: string) =>
      clientPost<TokenSet & JsonBody>(graceful.baseUrl, '/oauth/token', graceApp, { grant_type: 'refresh_token', refresh_token: refreshToken });

    it('lets a just-rotated refresh token be used again, without revoking the family', async () => {
      const first = await login(undefined, graceful, graceApp);
      const second = await refreshGraceful(first.refresh_token!);
      expect(second.status, second.text).toBe(200);

      // E.g. the client lost the first response and retries.
      const retry = await refreshGraceful(first.refresh_token!);
      expect(retry.status, retry.text).toBe(200);
      expect(retry.body.refresh_token).not.toBe(second.body.refresh_token);
      expect(jwtPayload(retry.body.access_token).grant_id).toBe(jwtPayload(first.access_token).grant_id);

      for (const token of [first.access_token, second.body.access_token, retry.body.access_token]) {
        expect(await meStatus(token, graceful.baseUrl)).toBe(200);
      }
      expect((await refreshGraceful(second.body.refresh_token!)).status).toBe(200);
      expect((await refreshGraceful(retry.body.refresh_token!)).status).toBe(200);
    });

    it('still revokes the family when the rotated token comes back after the grace period', async () => {
      const first = await login(undefined, graceful, graceApp);
      const second = (await refreshGraceful(first.refresh_token!)).body;
      // Six seconds pass, as far as the database can tell.
      await graceful.app
        .get(DataSource)
        .query(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '6 seconds' WHERE token_hash = $1`, [sha256(first.refresh_token!)]);

      expectOAuthError(await refreshGraceful(first.refresh_token!), 400, 'invalid_grant');
      expectOAuthError(await refreshGraceful(second.refresh_token!), 400, 'invalid_grant');
      expect(await meStatus(second.access_token, graceful.baseUrl)).toBe(401);
    });
  });
});
