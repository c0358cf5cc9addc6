import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, clientPost, expectOAuthError, HttpResult, JsonBody, jwtPayload, TokenSet, waitUntil } from '../helpers/http';
import { authorizeThrough, authorizeUrl, CallbackServer, interceptRedirects, BrowserStage, startBrowserStage, TestBrowser } from '../helpers/browser';
import { TestApp, TestClient, TestInstance } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/**
 * The token endpoint's side of the authorization code grant (RFC 6749 §4.1.3, §10.5, RFC 7636
 * §4.6, RFC 9700 §2.1.1, §4.8): codes are obtained in a real browser (one logged-in session
 * for the whole file), then redeemed over HTTP.
 */
describe('browser: authorization code redemption', () => {
  let stage: BrowserStage | undefined;
  let t: TestApp;
  let second: TestInstance;
  let b: TestBrowser;
  let rp: CallbackServer;
  let page: Page;
  let web: TestClient;
  let other: TestClient;
  let spa: TestClient;
  let legacy: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    stage = await startBrowserStage();
    ({ gatehouse: t, browser: b, rp } = stage);
    second = await t.startInstance();
    const common = { redirect_uris: [rp.redirectUri], scope: 'openid notes:read notes:write' };
    web = await t.createClient({ client_id: 'notes-web', client_name: 'Notes Web', grant_types: ['authorization_code', 'refresh_token'], ...common });
    other = await t.createClient({ client_id: 'other-web', client_name: 'Other Web', grant_types: ['authorization_code', 'refresh_token'], ...common });
    spa = await t.createClient({ client_id: 'notes-spa', client_name: 'Notes SPA', token_endpoint_auth_method: 'none', ...common });
    legacy = await t.createClient({ client_id: 'legacy-web', client_name: 'Legacy Web', require_pkce: false, ...common });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
    page = await b.newPage();
  });
  afterAll(async () => {
    await stage?.close();
  });

  interface Issued {
    code: string;
    verifier: string | undefined;
  }

  /** Runs the authorization request in the browser (logging in and consenting the first time) and returns the code. */
  const getCode = async (registered: TestClient, options: { pkce?: 'S256' | 'none'; scope?: string; baseUrl?: string } = {}): Promise<Issued> => {
    const verifier = options.pkce === 'none' ? undefined : client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = authorizeUrl(options.baseUrl ?? t.config.issuer, {
      response_type: 'code',
      client_id: registered.client_id,
      redirect_uri: rp.redirectUri,
      scope: options.scope ?? 'notes:read notes:write',
      state,
      code_challenge: verifier && (await client.calculatePKCECodeChallenge(verifier)),
      code_challenge_method: verifier && 'S256',
    });
    const callback = await authorizeThrough(page, url, interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
    expect(callback.query.get('state')).toBe(state);
    const code = callback.query.get('code');
    expect(code, callback.url.href).toBeTruthy();
    return { code: code!, verifier };
  };

  const redeem = (
    issued: Issued,
    options: { client?: TestClient; verifier?: string | null; redirectUri?: string | null; baseUrl?: string } = {},
  ): Promise<HttpResult<TokenSet & JsonBody>> =>
    clientPost<TokenSet & JsonBody>(options.baseUrl ?? t.baseUrl, '/oauth/token', options.client ?? web, {
      grant_type: 'authorization_code',
      code: issued.code,
      redirect_uri: options.redirectUri === null ? undefined : (options.redirectUri ?? rp.redirectUri),
      code_verifier: options.verifier === null ? undefined : (options.verifier ?? issued.verifier),
    });

  const meStatus = async (token: string, baseUrl = t.baseUrl) => (await api(baseUrl, '/api/me', token)).status;

  it('issues tokens for a valid code: the user as subject, the granted scope, a refresh token for a client with that grant', async () => {
    const issued = await getCode(web);
    const result = await redeem(issued);
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.body.token_type.toLowerCase()).toBe('bearer');
    expect(result.body.scope).toBe('notes:read notes:write');
    expect(typeof result.body.refresh_token).toBe('string');
    expect(jwtPayload(result.body.access_token)).toMatchObject({ sub: aliceId, client_id: 'notes-web' });
    expect(await meStatus(result.body.access_token)).toBe(200);
  });

  it('a code is single use: the second redemption gets invalid_grant, and the tokens of the first stop working within a second (RFC 6749 §4.1.2, §10.5)', async () => {
    const issued = await getCode(web);
    const config = await client.discovery(new URL(t.config.issuer), web.client_id, web.client_secret, client.ClientSecretBasic(web.client_secret!), {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests],
    });
    const callbackUrl = new URL(`${rp.redirectUri}?code=${encodeURIComponent(issued.code)}&iss=${encodeURIComponent(t.config.issuer)}`);
    const first = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: issued.verifier });
    expect(await meStatus(first.access_token)).toBe(200); // now cached by the resource API
    expect(typeof first.refresh_token).toBe('string');

    // The replay, as openid-client reports it...
    await expect(client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: issued.verifier })).rejects.toMatchObject({
      error: 'invalid_grant',
      status: 400,
    });
    // ...and as the wire shows it.
    expectOAuthError(await redeem(issued), 400, 'invalid_grant');

    // Both instances refuse it within a second of the replay (the other one through LISTEN/NOTIFY).
    await Promise.all([
      waitUntil(async () => (await meStatus(first.access_token)) === 401, 1000),
      waitUntil(async () => (await meStatus(first.access_token, second.baseUrl)) === 401, 1000),
    ]);
    const refresh = await clientPost(t.baseUrl, '/oauth/token', web, { grant_type: 'refresh_token', refresh_token: first.refresh_token! });
    expectOAuthError(refresh, 400, 'invalid_grant');
  });

  it('a code issued to one client and redeemed by another gets invalid_grant (RFC 6749 §4.1.3)', async () => {
    const issued = await getCode(web);
    expectOAuthError(await redeem(issued, { client: other }), 400, 'invalid_grant');
  });

  it('a public client cannot redeem a confidential client’s code by naming its client_id without a secret', async () => {
    const issued = await getCode(web);
    const result = await clientPost(
      t.baseUrl,
      '/oauth/token',
      { ...web, client_secret: undefined },
      {
        grant_type: 'authorization_code',
        code: issued.code,
        redirect_uri: rp.redirectUri,
        code_verifier: issued.verifier,
      },
      'none',
    );
    expectOAuthError(result, 401, 'invalid_client');
  });

  it('a wrong code_verifier gets invalid_grant (RFC 7636 §4.6)', async () => {
    const issued = await getCode(spa);
    expectOAuthError(await redeem(issued, { client: spa, verifier: client.randomPKCECodeVerifier() }), 400, 'invalid_grant');
  });

  it('a missing code_verifier for a code issued with a challenge gets invalid_grant', async () => {
    const issued = await getCode(spa);
    expectOAuthError(await redeem(issued, { client: spa, verifier: null }), 400, 'invalid_grant');
  });

  it('the S256 challenge itself presented as the verifier (a plain downgrade) gets invalid_grant', async () => {
    const issued = await getCode(spa);
    const challenge = await client.calculatePKCECodeChallenge(issued.verifier!);
    expectOAuthError(await redeem(issued, { client: spa, verifier: challenge }), 400, 'invalid_grant');
  });

  it('a code_verifier for a code issued without a challenge gets invalid_grant (PKCE downgrade, RFC 9700 §4.8.2)', async () => {
    const issued = await getCode(legacy, { pkce: 'none' });
    expectOAuthError(await redeem(issued, { client: legacy, verifier: client.randomPKCECodeVerifier() }), 400, 'invalid_grant');
  });

  it('a confidential client registered with require_pkce: false may omit PKCE', async () => {
    const issued = await getCode(legacy, { pkce: 'none' });
    const result = await redeem(issued, { client: legacy });
    expect(result.status, result.text).toBe(200);
  });

  it('a confidential client (require_pkce default) must send a code_challenge: invalid_request at the authorization endpoint', async () => {
    const redirects = interceptRedirects(page, rp);
    await page.goto(
      authorizeUrl(t.config.issuer, { response_type: 'code', client_id: 'notes-web', redirect_uri: rp.redirectUri, scope: 'notes:read', state: 'st' }),
    );
    const callback = await redirects.next();
    expect(callback.query.get('error')).toBe('invalid_request');
    expect(callback.query.get('state')).toBe('st');
    expect(callback.query.get('code')).toBeNull();
  });

  it('a redirect_uri at the token endpoint different from the authorization request’s gets invalid_grant (RFC 6749 §4.1.3)', async () => {
    const issued = await getCode(web);
    expectOAuthError(await redeem(issued, { redirectUri: `${rp.origin}/other-callback` }), 400, 'invalid_grant');
  });

  it('a redirect_uri sent in the authorization request must be present at the token endpoint (RFC 6749 §4.1.3)', async () => {
    const issued = await getCode(web);
    const result = await redeem(issued, { redirectUri: null });
    expect(result.status, result.text).toBe(400);
    expect(['invalid_grant', 'invalid_request']).toContain(result.body.error);
  });

  it('an unknown code gets invalid_grant', async () => {
    expectOAuthError(await redeem({ code: 'not-a-code', verifier: client.randomPKCECodeVerifier() }), 400, 'invalid_grant');
  });

  it('a code lives at most 60 seconds, and an expired code gets invalid_grant (RFC 6749 §4.1.2)', async () => {
    const issued = await getCode(other);
    const db = t.app.get(DataSource);
    const rows: { lifetime: number }[] = await db.query(
      `SELECT extract(epoch FROM expires_at - created_at)::float AS lifetime FROM authorization_codes WHERE client_id = $1 AND used_at IS NULL`,
      [other.client_id],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.lifetime).toBeLessThanOrEqual(60);
    // Sixty-one seconds pass, as far as the database can tell.
    await db.query(
      `UPDATE authorization_codes SET created_at = created_at - interval '61 seconds', expires_at = expires_at - interval '61 seconds'
       WHERE client_id = $1 AND used_at IS NULL`,
      [other.client_id],
    );
    expectOAuthError(await redeem(issued, { client: other }), 400, 'invalid_grant');
  });

  const summarize = (results: HttpResult<TokenSet & JsonBody>[]) => ({
    ok: results.filter((result) => result.status === 200).length,
    invalidGrant: results.filter((result) => result.status === 400 && result.body?.error === 'invalid_grant').length,
    serverErrors: results.filter((result) => result.status >= 500).length,
  });
  const describeResults = (results: HttpResult<TokenSet & JsonBody>[]) => results.map((result) => `${result.status} ${result.text.slice(0, 100)}`).join('\n');

  it('of 10 parallel redemptions of one code exactly one gets 200, the others invalid_grant, none a 5xx', async () => {
    const issued = await getCode(web);
    const results = await Promise.all(Array.from({ length: 10 }, () => redeem(issued)));
    expect(summarize(results), describeResults(results)).toEqual({ ok: 1, invalidGrant: 9, serverErrors: 0 });
    // The replays revoke what the winner got.
    const winner = results.find((result) => result.status === 200)!.body;
    await waitUntil(async () => (await meStatus(winner.access_token)) === 401, 1000);
  });

  it('exactly one of 10 parallel redemptions succeeds across two instances over one database (5 each)', async () => {
    const issued = await getCode(web);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) => redeem(issued, { baseUrl: index % 2 === 0 ? t.baseUrl : second.baseUrl })));
    expect(summarize(results), describeResults(results)).toEqual({ ok: 1, invalidGrant: 9, serverErrors: 0 });
  });

  it('a code issued by one instance is redeemed on the other (no instance-local state)', async () => {
    const issued = await getCode(web);
    const result = await redeem(issued, { baseUrl: second.baseUrl });
    expect(result.status, result.text).toBe(200);
    expect(await meStatus(result.body.access_token, t.baseUrl)).toBe(200);
  });
});
