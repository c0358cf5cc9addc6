import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, jwtPayload, request } from '../helpers/http';
import {
  authorizeThrough,
  authorizeUrl,
  CallbackServer,
  describePage,
  expectPage,
  expectSecurityHeaders,
  interceptRedirects,
  BrowserStage,
  loginAndConsent,
  pageKind,
  postFormFrom,
  startBrowserStage,
  submitConsent,
  submitLogin,
  StorageState,
  TestBrowser,
} from '../helpers/browser';
import { TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const SCOPE = 'notes:read notes:write';

/**
 * RFC 6749 §4.1 authorization code grant with RFC 7636 PKCE, in Debian's Chromium, with
 * openid-client v6 as the relying party: login and consent pages, the redirect back
 * (RFC 9207 `iss` included), the code exchange and the sample API.
 */
describe('browser: authorization code flow', () => {
  let stage: BrowserStage | undefined;
  let t: TestApp;
  let b: TestBrowser;
  let rp: CallbackServer;
  let web: TestClient;
  let spa: TestClient;
  let firstParty: TestClient;
  let aliceId: string;
  let page: Page;

  beforeAll(async () => {
    stage = await startBrowserStage();
    ({ gatehouse: t, browser: b, rp } = stage);
    const common = { redirect_uris: [rp.redirectUri], scope: 'openid profile notes:read notes:write' };
    web = await t.createClient({ client_id: 'notes-web', client_name: 'Notes Web', grant_types: ['authorization_code', 'refresh_token'], ...common });
    spa = await t.createClient({ client_id: 'notes-spa', client_name: 'Notes SPA', token_endpoint_auth_method: 'none', ...common });
    firstParty = await t.createClient({
      client_id: 'gatehouse-console',
      client_name: 'Gatehouse Console',
      first_party: true,
      token_endpoint_auth_method: 'none',
      ...common,
    });
    await t.createClient({ client_id: 'plain-ok', client_name: 'Plain OK', token_endpoint_auth_method: 'none', allow_plain_pkce: true, ...common });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD, email: 'alice@example.com', name: 'Alice' })).id;
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await stage?.close();
  });

  const newPage = async () => (page = await b.newPage());

  const discover = (registered: TestClient) =>
    client.discovery(
      new URL(t.config.issuer),
      registered.client_id,
      registered.client_secret,
      registered.client_secret ? client.ClientSecretBasic(registered.client_secret) : client.None(),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );

  /** An RP-side authorization request: PKCE verifier, state, and the URL to send the browser to. */
  const startAuthorization = async (config: client.Configuration, extra: Record<string, string> = {}) => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri,
      scope: SCOPE,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    return { verifier, state, url: url.href };
  };

  let aliceSession: StorageState | undefined;
  /**
   * A fresh context, logged in as alice, who consented to notes-web: the first call logs in
   * through the pages; later calls start from a copy of that context's cookies.
   */
  const loggedInPage = async () => {
    if (aliceSession) return (page = await b.newPage({ storageState: aliceSession }));
    await newPage();
    const { url } = await startAuthorization(await discover(web));
    await authorizeThrough(page, url, interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
    aliceSession = await page.context().storageState();
    return page;
  };

  it('advertises the authorization endpoint, S256 PKCE and RFC 9207 iss in its metadata', async () => {
    const metadata = (await request(`${t.baseUrl}/.well-known/oauth-authorization-server`)).body;
    expect(metadata.authorization_endpoint).toBe(`${t.config.issuer}/oauth/authorize`);
    expect(metadata.response_types_supported).toEqual(expect.arrayContaining(['code', 'token']));
    expect(metadata.code_challenge_methods_supported).toContain('S256');
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'implicit']));
  });

  it('confidential client: login page, consent page, code + state + iss in the query, exchange with openid-client, API call', async () => {
    await newPage();
    const config = await discover(web);
    const { verifier, state, url } = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);

    const loginResponse = await page.goto(url);
    expect(loginResponse?.status()).toBe(200);
    await expectPage(page, 'login');
    await expect(page.locator('.client-name').first().innerText()).resolves.toContain('Notes Web');
    expect(await page.locator('#password').getAttribute('type')).toBe('password');
    expect(await page.locator('form[action="/login"] input[name="csrf_token"]').getAttribute('value')).toBeTruthy();
    expect(await page.locator('form[action="/login"] input[name="return_to"]').count()).toBe(1);

    await submitLogin(page, 'alice', PASSWORD);
    await expectPage(page, 'consent');
    await expect(page.locator('.client-name').first().innerText()).resolves.toContain('Notes Web');
    const listed = (await page.locator('ul.scopes li').allInnerTexts()).join('\n');
    expect(listed).toContain('notes:read');
    expect(listed).toContain('notes:write');
    expect(await page.locator('form[action="/consent"] input[name="csrf_token"]').getAttribute('value')).toBeTruthy();

    await submitConsent(page, 'allow');
    const callback = await redirects.next();
    expect(callback.method).toBe('GET');
    expect(callback.query.get('code')).toBeTruthy();
    expect(callback.query.get('state')).toBe(state);
    expect(callback.query.get('iss')).toBe(t.config.issuer);
    expect(callback.url.hash).toBe('');
    // Referrer-Policy: no-referrer on the pages: the client is not told the issuer's page URLs.
    expect(callback.request.headers.referer).toBeUndefined();

    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe(SCOPE);
    expect(typeof tokens.refresh_token).toBe('string'); // the client has the refresh_token grant type
    const claims = jwtPayload(tokens.access_token);
    expect(claims).toMatchObject({ iss: t.config.issuer, sub: aliceId, client_id: 'notes-web', scope: SCOPE });

    const me = await api(t.baseUrl, '/api/me', tokens.access_token);
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ sub: aliceId });
    expect((await api(t.baseUrl, '/api/notes', tokens.access_token)).status).toBe(200);

    // The refresh token works too (RFC 6749 §6), through openid-client.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(jwtPayload(refreshed.access_token).sub).toBe(aliceId);
  });

  it('public client (token_endpoint_auth_method none): PKCE code exchange with client.None(); no refresh token without the refresh_token grant', async () => {
    await newPage();
    const config = await discover(spa);
    const { verifier, state, url } = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);
    await page.goto(url);
    await expect(page.locator('.client-name').first().innerText()).resolves.toContain('Notes SPA');
    const callback = await loginAndConsent(page, redirects, { username: 'alice', password: PASSWORD });

    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.refresh_token).toBeUndefined();
    expect(jwtPayload(tokens.access_token)).toMatchObject({ sub: aliceId, client_id: 'notes-spa' });
    expect((await api(t.baseUrl, '/api/notes', tokens.access_token)).status).toBe(200);
  });

  it('response_mode=form_post: the browser POSTs code, state and iss to the redirect_uri (and openid-client accepts it)', async () => {
    await loggedInPage();
    const config = await discover(web);
    const { verifier, state, url } = await startAuthorization(config, { response_mode: 'form_post' });
    const redirects = interceptRedirects(page, rp);
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    await expectSecurityHeaders(response, 'form_post page');
    const callback = await redirects.next();

    expect(callback.method).toBe('POST');
    expect(callback.request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(callback.query.toString()).toBe(''); // nothing in the URL
    expect(callback.form?.get('code')).toBeTruthy();
    expect(callback.form?.get('state')).toBe(state);
    expect(callback.form?.get('iss')).toBe(t.config.issuer);

    const tokens = await client.authorizationCodeGrant(config, callback.toRequest(), { pkceCodeVerifier: verifier, expectedState: state });
    expect(jwtPayload(tokens.access_token).sub).toBe(aliceId);
  });

  it('a state mismatch is detected by openid-client before any token request, so the code stays unused', async () => {
    await loggedInPage();
    const config = await discover(web);
    const { verifier, state, url } = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);
    await page.goto(url);
    const callback = await redirects.next();
    expect(callback.query.get('state')).toBe(state);

    // An attacker's response (CSRF against the client): the state is not the one this client sent.
    let tokenRequests = 0;
    const counting: typeof fetch = (input, init) => {
      tokenRequests++;
      return fetch(input, init);
    };
    config[client.customFetch] = counting;
    const failure = await client
      .authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: client.randomState() })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(client.ClientError);
    expect((failure as client.ClientError).code).toBe('OAUTH_INVALID_RESPONSE');
    expect(((failure as Error).cause as Error).message).toMatch(/unexpected "state"/);
    expect(tokenRequests).toBe(0);

    // Proof that nothing was redeemed: the legitimate exchange still works.
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokenRequests).toBe(1);
    expect(jwtPayload(tokens.access_token).sub).toBe(aliceId);
  });

  it('Deny on the consent page redirects with error=access_denied, state and iss, and no code', async () => {
    await newPage();
    const config = await discover(spa);
    const { state, url } = await startAuthorization(config, { scope: 'notes:read' });
    const redirects = interceptRedirects(page, rp);
    // A new user, who has never consented to anything.
    await t.createUser({ username: 'dora', password: PASSWORD });
    await page.goto(url);
    const callback = await loginAndConsent(page, redirects, { username: 'dora', password: PASSWORD, consent: 'deny' });
    expect(callback.query.get('error')).toBe('access_denied');
    expect(callback.query.get('state')).toBe(state);
    expect(callback.query.get('iss')).toBe(t.config.issuer);
    expect(callback.query.get('code')).toBeNull();
    await expect(client.authorizationCodeGrant(config, callback.url, { expectedState: state })).rejects.toBeInstanceOf(client.AuthorizationResponseError);
  });

  it('remembers consent: a second authorization for the same (or fewer) scopes skips the consent page; a new scope asks again', async () => {
    await newPage();
    await t.createUser({ username: 'erin', password: PASSWORD });
    const config = await discover(web);
    const redirects = interceptRedirects(page, rp);

    const first = await startAuthorization(config, { scope: 'notes:read' });
    await page.goto(first.url);
    await loginAndConsent(page, redirects, { username: 'erin', password: PASSWORD, consent: 'allow' });

    // Same scope: straight back to the client, no login (session) and no consent page.
    const second = await startAuthorization(config, { scope: 'notes:read' });
    await page.goto(second.url);
    const callback = await redirects.next();
    expect(callback.query.get('code'), await describePage(page)).toBeTruthy();
    expect(callback.query.get('state')).toBe(second.state);
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: second.verifier, expectedState: second.state });
    expect(tokens.scope).toBe('notes:read');

    // A scope not consented to yet: the consent page again, listing it.
    const wider = await startAuthorization(config, { scope: 'notes:read notes:write' });
    await page.goto(wider.url);
    await expectPage(page, 'consent');
    expect((await page.locator('ul.scopes li').allInnerTexts()).join('\n')).toContain('notes:write');
    await submitConsent(page, 'allow');
    expect((await redirects.next()).query.get('code')).toBeTruthy();

    // And now both are remembered.
    const again = await startAuthorization(config, { scope: 'notes:write notes:read' });
    await page.goto(again.url);
    expect((await redirects.next()).query.get('code')).toBeTruthy();
  });

  it('a first_party client skips the consent page', async () => {
    await newPage();
    await t.createUser({ username: 'frank', password: PASSWORD });
    const config = await discover(firstParty);
    const { verifier, state, url } = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);
    await page.goto(url);
    const callback = await loginAndConsent(page, redirects, { username: 'frank', password: PASSWORD, consent: 'none' });
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(jwtPayload(tokens.access_token).client_id).toBe('gatehouse-console');
  });

  it('prompt=login shows the login page despite a valid session, then completes', async () => {
    await newPage();
    const config = await discover(web);
    await authorizeThrough(page, (await startAuthorization(config)).url, interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });

    // Without prompt: no login page (the session is used).
    const silent = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);
    await page.goto(silent.url);
    expect((await redirects.next()).query.get('code')).toBeTruthy();

    const forced = await startAuthorization(config, { prompt: 'login' });
    await page.goto(forced.url);
    await expectPage(page, 'login');
    await submitLogin(page, 'alice', PASSWORD);
    const callback = await redirects.next();
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: forced.verifier, expectedState: forced.state });
    expect(jwtPayload(tokens.access_token).sub).toBe(aliceId);
  });

  describe('errors redirected to the client (RFC 6749 §4.1.2.1), with error, error_description, state and iss', () => {
    const expectErrorRedirect = async (params: Record<string, string | undefined>, error: string) => {
      await loggedInPage();
      const redirects = interceptRedirects(page, rp);
      const state = client.randomState();
      await page.goto(authorizeUrl(t.config.issuer, { client_id: 'notes-spa', redirect_uri: rp.redirectUri, state, ...params }));
      const callback = await redirects.next();
      expect(callback.params.get('error'), callback.url.href).toBe(error);
      expect(callback.params.get('error_description')).toBeTruthy();
      expect(callback.params.get('error_description')).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
      expect(callback.params.get('state')).toBe(state);
      expect(callback.params.get('iss')).toBe(t.config.issuer);
      expect(callback.params.get('code')).toBeNull();
      expect(callback.params.get('access_token')).toBeNull();
      return callback;
    };
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

    it('a scope the client is not registered for → invalid_scope', async () => {
      await expectErrorRedirect(
        { response_type: 'code', scope: 'notes:read admin', code_challenge: challenge, code_challenge_method: 'S256' },
        'invalid_scope',
      );
    });

    it('a public client without code_challenge → invalid_request (PKCE is mandatory, RFC 9700 §2.1.1)', async () => {
      await expectErrorRedirect({ response_type: 'code', scope: 'notes:read' }, 'invalid_request');
    });

    it('code_challenge_method=plain for a client without allow_plain_pkce → invalid_request (RFC 7636 §4.4.1)', async () => {
      await expectErrorRedirect(
        { response_type: 'code', scope: 'notes:read', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' },
        'invalid_request',
      );
    });

    it('an unknown code_challenge_method → invalid_request', async () => {
      await expectErrorRedirect({ response_type: 'code', scope: 'notes:read', code_challenge: challenge, code_challenge_method: 'S512' }, 'invalid_request');
    });

    it('an unsupported response_type → unsupported_response_type', async () => {
      await expectErrorRedirect(
        { response_type: 'code_and_more', scope: 'notes:read', code_challenge: challenge, code_challenge_method: 'S256' },
        'unsupported_response_type',
      );
    });

    it('code_challenge_method=plain is accepted for a client registered with allow_plain_pkce', async () => {
      await loggedInPage();
      const redirects = interceptRedirects(page, rp);
      const verifier = client.randomPKCECodeVerifier();
      await page.goto(
        authorizeUrl(t.config.issuer, {
          response_type: 'code',
          client_id: 'plain-ok',
          redirect_uri: rp.redirectUri,
          scope: 'notes:read',
          state: 'plain',
          code_challenge: verifier,
          code_challenge_method: 'plain',
        }),
      );
      if ((await pageKind(page).catch(() => 'other')) === 'consent') await submitConsent(page, 'allow');
      const callback = await redirects.next();
      expect(callback.query.get('code'), callback.url.href).toBeTruthy();
      const result = await request(`${t.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: 'plain-ok',
          code: callback.query.get('code')!,
          redirect_uri: rp.redirectUri,
          code_verifier: verifier,
        }).toString(),
      });
      expect(result.status, result.text).toBe(200);
    });
  });

  describe('errors that must not redirect (RFC 6749 §4.1.2.1, §10.15 open redirector): an HTML error page, status 400', () => {
    const evil = () => `${rp.origin}/evil`;

    const expectErrorPage = async (params: Record<string, string | undefined>, error: string, withSession: boolean) => {
      if (withSession) await loggedInPage();
      else await newPage();
      const before = rp.requests.length;
      const response = await page.goto(
        authorizeUrl(t.config.issuer, {
          response_type: 'code',
          scope: 'notes:read',
          state: 'xyz',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          ...params,
        }),
      );
      expect(response?.status(), await describePage(page)).toBe(400);
      expect(new URL(page.url()).origin).toBe(new URL(t.config.issuer).origin);
      await expect(page.locator('main').getAttribute('data-error')).resolves.toBe(error);
      expect(await response!.headerValue('location')).toBeNull();
      // Give a stray redirect or script a moment, then check nothing reached the client side.
      await page.waitForTimeout(200);
      expect(rp.requests.slice(before).map((r) => r.url.href)).toEqual([]);
    };

    it.each([
      ['another path on the same origin', (uri: string) => `${new URL(uri).origin}/evil`],
      ['an extra query parameter', (uri: string) => `${uri}?next=https://evil.example`],
      ['a trailing slash', (uri: string) => `${uri}/`],
      ['a different port', (uri: string) => uri.replace(/:(\d+)\//, (_m, port: string) => `:${Number(port) + 1}/`)],
      ['upper-case path', (uri: string) => uri.replace('/callback', '/CALLBACK')],
      ['localhost instead of 127.0.0.1', (uri: string) => uri.replace('127.0.0.1', 'localhost')],
      ['a fragment', (uri: string) => `${uri}#x`],
      ['userinfo', (uri: string) => uri.replace('http://', 'http://evil@')],
    ])('a redirect_uri not registered exactly (%s) → invalid_redirect_uri, no navigation to it', async (_name, tamper) => {
      await expectErrorPage({ client_id: 'notes-web', redirect_uri: tamper(rp.redirectUri) }, 'invalid_redirect_uri', true);
    });

    it('a tampered redirect_uri is refused for a logged-in user too, and the error page does not link to it', async () => {
      await expectErrorPage({ client_id: 'notes-web', redirect_uri: evil() }, 'invalid_redirect_uri', true);
      const html = await page.content();
      expect(html).not.toContain(`href="${evil()}`);
    });

    it('an unknown client_id → invalid_client, no redirect even to a valid-looking redirect_uri', async () => {
      await expectErrorPage({ client_id: 'no-such-client', redirect_uri: rp.redirectUri }, 'invalid_client', false);
    });

    it('a missing client_id → invalid_client', async () => {
      await expectErrorPage({ client_id: undefined, redirect_uri: rp.redirectUri }, 'invalid_client', false);
    });
  });

  it('POST /oauth/authorize (form-encoded) works like GET', async () => {
    await loggedInPage();
    const config = await discover(web);
    const { verifier, state, url } = await startAuthorization(config);
    const redirects = interceptRedirects(page, rp);
    const params = Object.fromEntries(new URL(url).searchParams);
    // The client's own page (another origin of the same site) posts the request.
    await postFormFrom(page, `${rp.origin}/client-page`, `${t.config.issuer}/oauth/authorize`, params);
    const callback = await redirects.next();
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(jwtPayload(tokens.access_token).sub).toBe(aliceId);
  });
});
