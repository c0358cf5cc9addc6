import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../src/users/users.service';
import { api, clientPost, expectOAuthError, JsonBody, jwtPayload, TokenSet } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/** RFC 6749 §4.3 resource owner password credentials, opt-in, with lockout (LOGIN_MAX_FAILURES=3). */
describe('password grant', () => {
  let t: TestApp;
  let app: TestClient;
  let spa: TestClient;
  let m2m: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_LOCKOUT: '60s' } });
    app = await t.createClient({ client_id: 'first-party-app', grant_types: ['password'], scope: 'openid notes:read notes:write' });
    spa = await t.createClient({ client_id: 'first-party-spa', token_endpoint_auth_method: 'none', grant_types: ['password'], scope: 'notes:read' });
    m2m = await t.createClient({ client_id: 'm2m', grant_types: ['client_credentials'], scope: 'notes:read' });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
    await Promise.all(['bob', 'carol', 'dave', 'erin', 'frank', 'gina'].map((username) => t.createUser({ username, password: PASSWORD })));
  });
  afterAll(() => t?.close());

  const login = (username: string, password: string, extra: Record<string, string> = {}, client = app) =>
    clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', client, { grant_type: 'password', username, password, ...extra });

  it('is opt-in: a client not registered for it gets unauthorized_client, even with the right password', async () => {
    expectOAuthError(await login('alice', PASSWORD, {}, m2m), 400, 'unauthorized_client');
  });

  it('returns an access token and a refresh token for the right password', async () => {
    const result = await login('alice', PASSWORD);
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.body.token_type.toLowerCase()).toBe('bearer');
    expect(typeof result.body.access_token).toBe('string');
    expect(typeof result.body.refresh_token).toBe('string');
    expect(result.body.refresh_token).not.toBe(result.body.access_token);
    expect(result.body.scope).toBe('openid notes:read notes:write');
  });

  it("uses the user's stable id (a UUID), not the username, as the token's sub", async () => {
    const { body } = await login('alice', PASSWORD);
    const claims = jwtPayload(body.access_token);
    expect(claims.sub).toBe(aliceId);
    expect(aliceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(claims.client_id).toBe('first-party-app');
    expect(typeof claims.grant_id).toBe('string');
    expect(typeof claims.auth_time).toBe('number');
    const me = await api(t.baseUrl, '/api/me', body.access_token);
    expect(me.body.sub).toBe(aliceId);
  });

  it('matches the username case-insensitively', async () => {
    const result = await login('ALICE', PASSWORD);
    expect(result.status, result.text).toBe(200);
    expect(jwtPayload(result.body.access_token).sub).toBe(aliceId);
  });

  it('treats the password as case-sensitive', async () => {
    expectOAuthError(await login('alice', PASSWORD.toUpperCase()), 400, 'invalid_grant');
  });

  it('answers a wrong password and an unknown user with the same invalid_grant body', async () => {
    const wrongPassword = await login('frank', 'not the password');
    const unknownUser = await login('nobody-by-that-name', 'not the password');
    expectOAuthError(wrongPassword, 400, 'invalid_grant');
    expectOAuthError(unknownUser, 400, 'invalid_grant');
    expect(unknownUser.body).toEqual(wrongPassword.body);
  });

  it('requires both username and password (invalid_request)', async () => {
    expectOAuthError(await clientPost(t.baseUrl, '/oauth/token', app, { grant_type: 'password', username: 'alice' }), 400, 'invalid_request');
    expectOAuthError(await clientPost(t.baseUrl, '/oauth/token', app, { grant_type: 'password', password: PASSWORD }), 400, 'invalid_request');
  });

  it('grants a narrower scope when asked, and refuses one outside the registration with invalid_scope', async () => {
    const narrow = await login('alice', PASSWORD, { scope: 'notes:read' });
    expect(narrow.status, narrow.text).toBe(200);
    expect(narrow.body.scope).toBe('notes:read');
    expectOAuthError(await login('alice', PASSWORD, { scope: 'notes:read admin' }), 400, 'invalid_scope');
  });

  it('lets a public client registered for the grant authenticate with client_id alone', async () => {
    const result = await login('alice', PASSWORD, {}, spa);
    expect(result.status, result.text).toBe(200);
    expect(jwtPayload(result.body.access_token).client_id).toBe('first-party-spa');
  });

  it('locks the account after LOGIN_MAX_FAILURES failures: then even the right password gets the same invalid_grant', async () => {
    const failures = [];
    for (let attempt = 0; attempt < 3; attempt++) failures.push(await login('bob', `wrong password ${attempt}`));
    for (const failure of failures) expectOAuthError(failure, 400, 'invalid_grant');

    const locked = await login('bob', PASSWORD);
    expectOAuthError(locked, 400, 'invalid_grant');
    expect(locked.body).toEqual(failures[0].body);
    // The lock holds for LOGIN_LOCKOUT, not for one attempt.
    expectOAuthError(await login('bob', PASSWORD), 400, 'invalid_grant');
  });

  it('counts failures per account: another account is not locked', async () => {
    for (let attempt = 0; attempt < 3; attempt++) await login('dave', 'wrong password');
    expectOAuthError(await login('dave', PASSWORD), 400, 'invalid_grant');
    expect((await login('erin', PASSWORD)).status).toBe(200);
  });

  it('starts counting again after a successful login', async () => {
    for (let round = 0; round < 2; round++) {
      for (let attempt = 0; attempt < 2; attempt++) expectOAuthError(await login('gina', 'wrong password'), 400, 'invalid_grant');
      const success = await login('gina', PASSWORD);
      expect(success.status, `round ${round}: ${success.text}`).toBe(200);
    }
  });

  it('refuses a disabled user with the same invalid_grant body, even with the right password', async () => {
    expect((await login('carol', PASSWORD)).status).toBe(200);
    await t.app.get(UsersService).setDisabled('carol', true);
    const refused = await login('carol', PASSWORD);
    expectOAuthError(refused, 400, 'invalid_grant');
    expect(refused.body).toEqual((await login('nobody-by-that-name', PASSWORD)).body);
  });
});
