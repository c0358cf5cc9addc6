import * as jose from 'jose';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  Callback,
  CallbackServer,
  describePage,
  expectPage,
  interceptRedirects,
  launchBrowser,
  pageKind,
  postFormFrom,
  startCallbackServer,
  submitConsent,
  submitLogin,
  TestBrowser,
} from '../helpers/browser';
import { basicFor, clientPost, postForm, request } from '../helpers/http';
import { discoverOidc, IdTokenClaims, sleep, verifyIdToken } from '../helpers/oidc';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const ACR_PASSWORD = 'urn:gatehouse:acr:password';
const ADDRESS = { street_address: '1 Main Street', locality: 'Springfield', postal_code: '12345', country: 'US' };

/**
 * The OpenID Foundation's basic OP certification plan (oidcc-basic-certification-test-plan),
 * one test per module, named after the module: response_type=code, client_secret_basic
 * unless the module says otherwise, the default response mode, openid-client v6 as the
 * relying party (it validates the ID token, state, nonce and RFC 9207 iss in full), and the
 * user's browser played by Chromium.
 *
 * Like the suite's RP, the conformance clients do not send PKCE (require_pkce: false); the
 * PKCE module sends it.
 */
describe('OpenID Connect basic OP plan (oidcc-basic-certification-test-plan)', () => {
  let t: TestApp;
  let b: TestBrowser;
  let rp: CallbackServer;
  let page: Page;
  let rpBasic: TestClient;
  let rpPost: TestClient;
  let rpConsent: TestClient;
  let rpOther: TestClient;
  let rpSignedUserInfo: TestClient;
  let rpOffline: TestClient;
  let aliceId: string;
  let bobId: string;

  const ALL_SCOPES = 'openid profile email address phone offline_access';

  beforeAll(async () => {
    await Promise.all([
      startTestApp({ env: { LOGIN_RATE_LIMIT: '10000' } }).then((app) => (t = app)),
      launchBrowser().then((browser) => (b = browser)),
      startCallbackServer().then((server) => (rp = server)),
    ]);
    const common = { redirect_uris: [rp.redirectUri], scope: ALL_SCOPES, require_pkce: false };
    rpBasic = await t.createClient({ client_id: 'rp-basic', client_name: 'RP Basic', first_party: true, grant_types: ['authorization_code'], ...common });
    rpPost = await t.createClient({
      client_id: 'rp-post',
      client_name: 'RP Post',
      first_party: true,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code'],
      ...common,
    });
    rpConsent = await t.createClient({ client_id: 'rp-consent', client_name: 'RP Needs Consent', grant_types: ['authorization_code'], ...common });
    rpOffline = await t.createClient({
      client_id: 'rp-offline',
      client_name: 'RP Offline',
      first_party: true,
      grant_types: ['authorization_code', 'refresh_token'],
      ...common,
    });
    rpOther = await t.createClient({
      client_id: 'rp-other',
      client_name: 'RP Other',
      first_party: true,
      grant_types: ['authorization_code', 'refresh_token'],
      ...common,
    });
    rpSignedUserInfo = await t.createClient({
      client_id: 'rp-signed-userinfo',
      client_name: 'RP Signed UserInfo',
      first_party: true,
      grant_types: ['authorization_code'],
      userinfo_signed_response_alg: 'RS256',
      ...common,
    });
    aliceId = (
      await t.createUser({
        username: 'alice',
        password: PASSWORD,
        email: 'alice@example.com',
        name: 'Alice Liddell',
        given_name: 'Alice',
        family_name: 'Liddell',
        phone_number: '+1 555 0100',
      })
    ).id;
    bobId = (await t.createUser({ username: 'bob', password: PASSWORD, email: 'bob@example.com', name: 'Bob' })).id;
    await t.app.get(DataSource).query('UPDATE users SET address = $1 WHERE id = $2', [JSON.stringify(ADDRESS), aliceId]);
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await Promise.all([b?.close(), rp?.close(), t?.close()]);
  });

  interface FlowOptions {
    registered?: TestClient;
    config?: client.Configuration;
    scope?: string;
    nonce?: string | null;
    pkce?: boolean;
    extra?: Record<string, string | undefined>;
    user?: string;
    /** What the browser must show first: the login page, or nothing (silent). */
    expectLogin?: boolean;
    maxAge?: number;
  }

  interface FlowResult {
    callback: Callback;
    tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    claims: IdTokenClaims;
    config: client.Configuration;
    state: string;
    nonce?: string;
  }

  /** A code flow driven by Chromium through whatever pages appear (or the asserted ones), exchanged with openid-client. */
  const codeFlow = async (options: FlowOptions = {}): Promise<FlowResult> => {
    const registered = options.registered ?? rpBasic;
    const config = options.config ?? (await discoverOidc(t, registered));
    const state = client.randomState();
    const nonce = options.nonce === null ? undefined : (options.nonce ?? client.randomNonce());
    const verifier = options.pkce ? client.randomPKCECodeVerifier() : undefined;
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri,
      scope: options.scope ?? 'openid',
      state,
      ...(nonce ? { nonce } : {}),
      ...(verifier ? { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } : {}),
      ...Object.fromEntries(Object.entries(options.extra ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    });
    const redirects = interceptRedirects(page, rp);
    await page.goto(url.href);
    const first = await pageKind(page);
    if (options.expectLogin === true) expect(first, await describePage(page)).toBe('login');
    if (options.expectLogin === false) expect(first, `no interaction expected: ${await describePage(page)}`).toBe('callback');
    if (first === 'login') await submitLogin(page, options.user ?? 'alice', PASSWORD);
    if ((await pageKind(page)) === 'consent') await submitConsent(page, 'allow');
    const callback = await redirects.next();
    expect(callback.query.get('error'), callback.url.href).toBeNull();
    const tokens = await client.authorizationCodeGrant(config, callback.url, {
      expectedState: state,
      ...(nonce ? { expectedNonce: nonce } : {}),
      ...(verifier ? { pkceCodeVerifier: verifier } : {}),
      ...(options.maxAge !== undefined ? { maxAge: options.maxAge } : {}),
    });
    expect(tokens.id_token).toBeTruthy();
    const { claims } = await verifyIdToken(t, tokens.id_token!, { client: registered, nonce });
    return { callback, tokens, claims, config, state, nonce };
  };

  /** The browser is sent to an authorization URL; returns what reached the redirect URI without any page in between. */
  const silent = async (params: Record<string, string | undefined>): Promise<Callback> => {
    const redirects = interceptRedirects(page, rp);
    await page.goto(authorizeUrl(t.config.issuer, { client_id: rpBasic.client_id, redirect_uri: rp.redirectUri, ...params }));
    return redirects.next();
  };

  /**
   * A fresh context with alice signed in through the pages. Not shared between tests: a
   * sign-in with prompt=login or max_age replaces the session, which would sign out every
   * copy of the cookies.
   */
  const loggedIn = async (): Promise<Page> => {
    page = await b.newPage();
    await codeFlow({ expectLogin: true });
    return page;
  };
  const fresh = async (): Promise<Page> => (page = await b.newPage());

  // --- oidcc-server and friends ------------------------------------------------------------

  it('oidcc-server: happy path code flow with nonce and state, client_secret_basic, ID token validated in full', async () => {
    await fresh();
    const before = Math.floor(Date.now() / 1000);
    const { callback, tokens, claims, state } = await codeFlow({ expectLogin: true });
    expect(callback.query.get('state')).toBe(state);
    expect(callback.query.get('iss')).toBe(t.config.issuer);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toBeTruthy();
    // Core §11: no offline_access, no refresh token for a browser flow with openid.
    expect(tokens.refresh_token).toBeUndefined();
    expect(claims.sub).toBe(aliceId);
    expect(claims.aud).toBe(rpBasic.client_id);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    expect(claims.auth_time).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(typeof claims.sid).toBe('string');
    expect(claims.acr).toBe(ACR_PASSWORD);
    expect(claims.amr).toEqual(['pwd']);
    // openid-client's view of the same claims.
    expect(tokens.claims()?.sub).toBe(aliceId);
  });

  it('oidcc-response-type-missing: no response_type → invalid_request redirected to the client with state and iss', async () => {
    await fresh();
    const callback = await silent({ scope: 'openid', state: 'st-missing', nonce: 'n-1' });
    expect(['invalid_request', 'unsupported_response_type']).toContain(callback.query.get('error'));
    expect(callback.query.get('state')).toBe('st-missing');
    expect(callback.query.get('iss')).toBe(t.config.issuer);
    expect(callback.query.get('code')).toBeNull();
  });

  it('oidcc-idtoken-signature: with no alg registered the ID token is RS256, its kid is an RSA key of the JWKS and the signature verifies', async () => {
    await loggedIn();
    const { tokens } = await codeFlow({ expectLogin: false });
    const header = jose.decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe('RS256');
    const jwks = (await request<jose.JSONWebKeySet>(`${t.baseUrl}/.well-known/jwks.json`)).body;
    const key = jwks.keys.find((candidate) => candidate.kid === header.kid);
    expect(key?.kty).toBe('RSA');
    expect(key && 'd' in key).toBe(false);
    await jose.jwtVerify(tokens.id_token!, await jose.importJWK(key!, 'RS256'), { issuer: t.config.issuer, audience: rpBasic.client_id });
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(discovery.id_token_signing_alg_values_supported).toContain('RS256');
  });

  it('oidcc-idtoken-unsigned: registering id_token_signed_response_alg "none" is refused (invalid_client_metadata), and discovery does not offer none', async () => {
    await expect(
      t.createClient({
        client_id: 'rp-unsigned',
        grant_types: ['authorization_code'],
        redirect_uris: [rp.redirectUri],
        scope: 'openid',
        id_token_signed_response_alg: 'none',
      }),
    ).rejects.toMatchObject({ code: 'invalid_client_metadata' });
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(discovery.id_token_signing_alg_values_supported).not.toContain('none');
  });

  // --- UserInfo -----------------------------------------------------------------------------

  it('oidcc-userinfo-get: GET UserInfo with the bearer token returns the same sub (validated by openid-client)', async () => {
    await loggedIn();
    const { tokens, config, claims } = await codeFlow({ scope: 'openid profile', expectLogin: false });
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.sub).toBe(aliceId);
    expect(info.name).toBe('Alice Liddell');
    const raw = await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('oidcc-userinfo-post-header: POST UserInfo with the token in the Authorization header', async () => {
    await loggedIn();
    const { tokens } = await codeFlow({ scope: 'openid email', expectLogin: false });
    const result = await request(`${t.baseUrl}/oauth/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(result.status, result.text).toBe(200);
    expect(result.body.sub).toBe(aliceId);
    expect(result.body.email).toBe('alice@example.com');
  });

  it('oidcc-userinfo-post-body: POST UserInfo with access_token in the form body (RFC 6750 §2.2)', async () => {
    await loggedIn();
    const { tokens } = await codeFlow({ scope: 'openid email', expectLogin: false });
    const result = await postForm(`${t.baseUrl}/oauth/userinfo`, { access_token: tokens.access_token });
    expect(result.status, result.text).toBe(200);
    expect(result.body.sub).toBe(aliceId);
    expect(result.body.email).toBe('alice@example.com');
  });

  it('oidcc-userinfo-post-body (negative): the token in both the header and the body → 400 invalid_request (RFC 6750 §2)', async () => {
    await loggedIn();
    const { tokens } = await codeFlow({ scope: 'openid', expectLogin: false });
    const result = await postForm(`${t.baseUrl}/oauth/userinfo`, { access_token: tokens.access_token }, { authorization: `Bearer ${tokens.access_token}` });
    expect(result.status, result.text).toBe(400);
    expect(result.body.error).toBe('invalid_request');
  });

  it('oidcc-userinfo-get (signed): userinfo_signed_response_alg RS256 returns application/jwt with iss, aud and sub', async () => {
    await loggedIn();
    const { tokens } = await codeFlow({ registered: rpSignedUserInfo, scope: 'openid email', expectLogin: false });
    const result = await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^application\/jwt/);
    const jwks = jose.createLocalJWKSet((await request<jose.JSONWebKeySet>(`${t.baseUrl}/.well-known/jwks.json`)).body);
    const { payload, protectedHeader } = await jose.jwtVerify(result.text, jwks, { issuer: t.config.issuer, audience: rpSignedUserInfo.client_id });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(aliceId);
    expect(payload.email).toBe('alice@example.com');
  });

  it('oidcc-userinfo-get (negative): no token → 401 with WWW-Authenticate Bearer; a token without openid → 403 insufficient_scope', async () => {
    const none = await request(`${t.baseUrl}/oauth/userinfo`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const bogus = await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bogus.status).toBe(401);
    expect(bogus.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow: a code request without nonce succeeds and the ID token carries no nonce', async () => {
    await loggedIn();
    const { claims } = await codeFlow({ nonce: null, expectLogin: false });
    expect(claims.nonce).toBeUndefined();
    expect(claims.sub).toBe(aliceId);
  });

  // --- Scopes (Core §5.4) ------------------------------------------------------------------

  const scopeCases: { module: string; scope: string; expected: Record<string, unknown>; absent: string[] }[] = [
    {
      module: 'oidcc-scope-profile',
      scope: 'openid profile',
      expected: { name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', preferred_username: 'alice' },
      absent: ['email', 'phone_number', 'address'],
    },
    {
      module: 'oidcc-scope-email',
      scope: 'openid email',
      expected: { email: 'alice@example.com', email_verified: false },
      absent: ['name', 'phone_number', 'address'],
    },
    { module: 'oidcc-scope-address', scope: 'openid address', expected: { address: ADDRESS }, absent: ['name', 'email', 'phone_number'] },
    {
      module: 'oidcc-scope-phone',
      scope: 'openid phone',
      expected: { phone_number: '+1 555 0100', phone_number_verified: false },
      absent: ['name', 'email', 'address'],
    },
    {
      module: 'oidcc-scope-all',
      scope: 'openid profile email address phone',
      expected: { name: 'Alice Liddell', email: 'alice@example.com', address: ADDRESS, phone_number: '+1 555 0100' },
      absent: [],
    },
  ];
  for (const { module, scope, expected, absent } of scopeCases) {
    it(`${module}: scope "${scope}" releases exactly its claims from UserInfo`, async () => {
      await loggedIn();
      const { tokens, config, claims } = await codeFlow({ scope, expectLogin: false });
      expect(tokens.scope?.split(' ').sort()).toEqual(scope.split(' ').sort());
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      expect(info).toMatchObject({ sub: aliceId, ...expected });
      for (const claim of absent) expect(info[claim], claim).toBeUndefined();
      // Code flow: the scope claims come from UserInfo, not the ID token (Core §5.4).
      for (const claim of Object.keys(expected)) expect(claims[claim], `ID token ${claim}`).toBeUndefined();
    });
  }

  it('oidcc-alternate-happy-flow: reversed scope order and reordered query parameters still work', async () => {
    await loggedIn();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = new URL('/oauth/authorize', t.config.issuer);
    // Reverse of the usual order; scope tokens reversed (RFC 6749 §3.3: order does not matter).
    for (const [name, value] of [
      ['state', state],
      ['nonce', nonce],
      ['scope', 'email openid'],
      ['redirect_uri', rp.redirectUri],
      ['client_id', rpBasic.client_id],
      ['response_type', 'code'],
    ]) {
      url.searchParams.set(name, value);
    }
    const redirects = interceptRedirects(page, rp);
    await page.goto(url.href);
    const callback = await redirects.next();
    const config = await discoverOidc(t, rpBasic);
    const tokens = await client.authorizationCodeGrant(config, callback.url, { expectedState: state, expectedNonce: nonce });
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid']);
    const info = await client.fetchUserInfo(config, tokens.access_token, aliceId);
    expect(info.email).toBe('alice@example.com');
  });

  for (const display of ['page', 'popup']) {
    it(`oidcc-display-${display}: display=${display} does not cause an error (login page shown, flow completes)`, async () => {
      await fresh();
      const { claims } = await codeFlow({ extra: { display }, expectLogin: true });
      expect(claims.sub).toBe(aliceId);
    });
  }

  // --- prompt, max_age, hints ------------------------------------------------------------------

  it('oidcc-prompt-login: prompt=login with a session shows the login page again, and auth_time is later', async () => {
    await loggedIn();
    const first = await codeFlow({ expectLogin: false });
    await sleep(1100);
    const second = await codeFlow({ extra: { prompt: 'login' }, expectLogin: true });
    expect(second.claims.sub).toBe(first.claims.sub);
    expect(second.claims.auth_time).toBeGreaterThan(first.claims.auth_time!);
  });

  it('oidcc-prompt-none-not-logged-in: prompt=none without a session → login_required at the redirect URI, with state and iss', async () => {
    await fresh();
    const callback = await silent({ response_type: 'code', scope: 'openid', state: 'st-none', nonce: 'n-none', prompt: 'none' });
    expect(callback.query.get('error')).toBe('login_required');
    expect(callback.query.get('state')).toBe('st-none');
    expect(callback.query.get('iss')).toBe(t.config.issuer);
    expect(callback.query.get('code')).toBeNull();
  });

  it('oidcc-prompt-none-logged-in: prompt=none with a session succeeds silently; same sub and auth_time', async () => {
    await loggedIn();
    const first = await codeFlow({ expectLogin: false });
    const second = await codeFlow({ extra: { prompt: 'none' }, expectLogin: false });
    expect(second.claims.sub).toBe(first.claims.sub);
    expect(second.claims.auth_time).toBe(first.claims.auth_time);
  });

  it('oidcc-prompt-none-logged-in (consent variant): prompt=none with a session but no consent for the client → consent_required', async () => {
    await loggedIn();
    const redirects = interceptRedirects(page, rp);
    await page.goto(
      authorizeUrl(t.config.issuer, {
        response_type: 'code',
        client_id: rpConsent.client_id,
        redirect_uri: rp.redirectUri,
        scope: 'openid',
        state: 'st-consent',
        prompt: 'none',
      }),
    );
    const callback = await redirects.next();
    expect(callback.query.get('error')).toBe('consent_required');
    expect(callback.query.get('state')).toBe('st-consent');
  });

  it('oidcc-max-age-1: max_age=1 after more than a second forces the login page; the new auth_time is fresh', async () => {
    await fresh();
    const first = await codeFlow({ expectLogin: true });
    await sleep(2100);
    const second = await codeFlow({ extra: { max_age: '1' }, expectLogin: true, maxAge: 1 });
    expect(second.claims.auth_time).toBeGreaterThan(first.claims.auth_time!);
    expect(Math.floor(Date.now() / 1000) - second.claims.auth_time!).toBeLessThanOrEqual(5);
    expect(second.claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-max-age-10000: max_age=10000 with a recent session needs no login; auth_time and sub are consistent', async () => {
    await loggedIn();
    const first = await codeFlow({ expectLogin: false });
    const second = await codeFlow({ extra: { max_age: '10000' }, expectLogin: false, maxAge: 10000 });
    expect(second.claims.auth_time).toBe(first.claims.auth_time);
    expect(second.claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-ensure-request-with-unknown-parameter-succeeds: an unknown authorization parameter is ignored', async () => {
    await loggedIn();
    const { claims } = await codeFlow({ extra: { extra_parameter_for_conformance: 'foobar' }, expectLogin: false });
    expect(claims.sub).toBe(aliceId);
  });

  it('oidcc-id-token-hint: prompt=none with the id_token_hint of the signed-in user succeeds without interaction', async () => {
    await loggedIn();
    const first = await codeFlow({ expectLogin: false });
    const second = await codeFlow({ extra: { prompt: 'none', id_token_hint: first.tokens.id_token }, expectLogin: false });
    expect(second.claims.sub).toBe(first.claims.sub);
  });

  it("oidcc-id-token-hint (negative): a hint naming another user than the session's → login_required with prompt=none; a forged hint → invalid_request", async () => {
    await loggedIn();
    const alice = await codeFlow({ expectLogin: false });
    // Bob signs in in another context; alice's hint there is for someone else.
    await fresh();
    await codeFlow({ user: 'bob', expectLogin: true });
    const other = await silent({ response_type: 'code', scope: 'openid', state: 's1', prompt: 'none', id_token_hint: alice.tokens.id_token });
    expect(other.query.get('error')).toBe('login_required');
    const [h, p] = alice.tokens.id_token!.split('.');
    const forged = await silent({ response_type: 'code', scope: 'openid', state: 's2', prompt: 'none', id_token_hint: `${h}.${p}.AAAA` });
    expect(forged.query.get('error')).toBe('invalid_request');
    expect(bobId).toBeTruthy();
  });

  it('oidcc-login-hint: login_hint causes no error and pre-fills the username field', async () => {
    await fresh();
    const config = await discoverOidc(t, rpBasic);
    await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: rp.redirectUri, scope: 'openid', state: 's', nonce: 'n', login_hint: 'alice' }).href);
    await expectPage(page, 'login');
    expect(await page.locator('#username').inputValue()).toBe('alice');
    const { claims } = await codeFlow({ extra: { login_hint: 'alice' }, expectLogin: true });
    expect(claims.sub).toBe(aliceId);
  });

  it('oidcc-ui-locales: ui_locales causes no error', async () => {
    await fresh();
    const { claims } = await codeFlow({ extra: { ui_locales: 'se' }, expectLogin: true });
    expect(claims.sub).toBe(aliceId);
  });

  it('oidcc-claims-locales: claims_locales causes no error', async () => {
    await loggedIn();
    const { tokens, config } = await codeFlow({ scope: 'openid profile', extra: { claims_locales: 'se' }, expectLogin: false });
    expect((await client.fetchUserInfo(config, tokens.access_token, aliceId)).name).toBe('Alice Liddell');
  });

  it('oidcc-ensure-request-with-acr-values-succeeds: acr_values is accepted and the acr claim is the one advertised', async () => {
    await loggedIn();
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(discovery.acr_values_supported).toContain(ACR_PASSWORD);
    const { claims } = await codeFlow({ extra: { acr_values: `${ACR_PASSWORD} 1 2` }, expectLogin: false });
    expect(claims.acr).toBe(ACR_PASSWORD);
  });

  // --- Codes and redirect URIs ---------------------------------------------------------------

  it('oidcc-codereuse: a second redemption of the code → invalid_grant, and the tokens issued from it are revoked', async () => {
    await loggedIn();
    const config = await discoverOidc(t, rpBasic);
    const state = client.randomState();
    const redirects = interceptRedirects(page, rp);
    await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: rp.redirectUri, scope: 'openid email', state }).href);
    const callback = await redirects.next();
    const code = callback.query.get('code')!;
    const first = await clientPost(t.baseUrl, '/oauth/token', rpBasic, { grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri });
    expect(first.status, first.text).toBe(200);
    const accessToken = first.body.access_token as string;
    expect((await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    const second = await clientPost(t.baseUrl, '/oauth/token', rpBasic, { grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri });
    expect(second.status, second.text).toBe(400);
    expect(second.body.error).toBe('invalid_grant');
    // RFC 6749 §4.1.2 SHOULD: the tokens issued from the code stop working.
    const after = await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(after.status).toBe(401);
  });

  it('oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri → an error page, never a redirect', async () => {
    await fresh();
    const before = rp.requests.length;
    const response = await page.goto(
      authorizeUrl(t.config.issuer, {
        response_type: 'code',
        client_id: rpBasic.client_id,
        redirect_uri: `${rp.origin}/elsewhere`,
        scope: 'openid',
        state: 's',
        nonce: 'n',
      }),
    );
    expect(response?.status()).toBe(400);
    await expectPage(page, 'error');
    expect(new URL(page.url()).origin).toBe(new URL(t.config.issuer).origin);
    expect(rp.requests.length).toBe(before);
  });

  it('oidcc-ensure-post-request-succeeds: the authorization request sent as an HTML form POST succeeds', async () => {
    await loggedIn();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const redirects = interceptRedirects(page, rp);
    await postFormFrom(page, `${rp.origin}/start`, `${t.config.issuer}/oauth/authorize`, {
      response_type: 'code',
      client_id: rpBasic.client_id,
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      state,
      nonce,
    });
    const callback = await redirects.next();
    expect(callback.query.get('error'), callback.url.href).toBeNull();
    const tokens = await client.authorizationCodeGrant(await discoverOidc(t, rpBasic), callback.url, { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()?.sub).toBe(aliceId);
  });

  it('oidcc-server-client-secret-post: happy path with client_secret_post', async () => {
    await loggedIn();
    const config = await discoverOidc(t, rpPost, { auth: 'post' });
    const { claims, tokens } = await codeFlow({ registered: rpPost, config, expectLogin: false });
    expect(claims.sub).toBe(aliceId);
    expect(tokens.access_token).toBeTruthy();
  });

  it('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: request_uri → request_uri_not_supported', async () => {
    await loggedIn();
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(discovery.request_uri_parameter_supported).toBe(false);
    const callback = await silent({ response_type: 'code', scope: 'openid', state: 'st-ru', nonce: 'n', request_uri: `${rp.origin}/request.jwt` });
    expect(callback.query.get('error')).toBe('request_uri_not_supported');
    expect(callback.query.get('state')).toBe('st-ru');
    expect(callback.query.get('code')).toBeNull();
  });

  it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: an unsigned request object → request_not_supported (never ignored)', async () => {
    await loggedIn();
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(discovery.request_parameter_supported).toBe(false);
    const requestObject = new jose.UnsecuredJWT({
      iss: rpBasic.client_id,
      aud: t.config.issuer,
      response_type: 'code',
      client_id: rpBasic.client_id,
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      state: 'st-ro',
      nonce: 'n',
    }).encode();
    const callback = await silent({ response_type: 'code', scope: 'openid', state: 'st-ro', request: requestObject });
    expect(callback.query.get('error')).toBe('request_not_supported');
    expect(callback.query.get('state')).toBe('st-ro');
    expect(callback.query.get('code')).toBeNull();
  });

  it('oidcc-ensure-request-object-with-redirect-uri: a request object naming another redirect_uri → request_not_supported at the registered URI, nothing sent elsewhere', async () => {
    await loggedIn();
    const before = rp.requestsTo('/elsewhere').length;
    const requestObject = new jose.UnsecuredJWT({
      iss: rpBasic.client_id,
      aud: t.config.issuer,
      response_type: 'code',
      client_id: rpBasic.client_id,
      redirect_uri: `${rp.origin}/elsewhere`,
      scope: 'openid',
      state: 'st-ro-ru',
    }).encode();
    const callback = await silent({ response_type: 'code', scope: 'openid', state: 'st-ro-ru', request: requestObject });
    expect(callback.url.pathname).toBe('/callback');
    expect(callback.query.get('error')).toBe('request_not_supported');
    expect(callback.query.get('code')).toBeNull();
    expect(rp.requestsTo('/elsewhere').length).toBe(before);
  });

  // --- claims parameter (Core §5.5) -----------------------------------------------------------

  it('oidcc-claims-essential: claims={"userinfo":{"name":{"essential":true}}} succeeds, and name comes back from UserInfo', async () => {
    await loggedIn();
    const { tokens, config } = await codeFlow({
      scope: 'openid',
      extra: { claims: JSON.stringify({ userinfo: { name: { essential: true } } }) },
      expectLogin: false,
    });
    const info = await client.fetchUserInfo(config, tokens.access_token, aliceId);
    // The suite only warns when it is absent; Core §5.5 says the OP returns requested claims it has.
    expect(info.name, 'name requested through claims.userinfo').toBe('Alice Liddell');
  });

  it('oidcc-claims-essential (id_token member): claims={"id_token":{"email":{"essential":true}}} puts email in the ID token of a code flow', async () => {
    await loggedIn();
    const { claims } = await codeFlow({ scope: 'openid', extra: { claims: JSON.stringify({ id_token: { email: { essential: true } } }) }, expectLogin: false });
    expect(claims.email).toBe('alice@example.com');
    expect(claims.name).toBeUndefined();
  });

  it('oidcc-claims-essential (negative): a claims parameter that is not JSON → invalid_request at the redirect URI', async () => {
    await loggedIn();
    const callback = await silent({ response_type: 'code', scope: 'openid', state: 'st-cl', claims: '{not json' });
    expect(callback.query.get('error')).toBe('invalid_request');
  });

  // --- Refresh tokens, PKCE ------------------------------------------------------------------

  it('oidcc-refresh-token: offline_access gives a refresh token; the refresh returns a valid ID token for the same user; it is bound to the client', async () => {
    await loggedIn();
    const config = await discoverOidc(t, rpOffline);
    const withoutOffline = await codeFlow({ registered: rpOffline, config, scope: 'openid email', expectLogin: false });
    expect(withoutOffline.tokens.refresh_token, 'Core §11: no offline_access, no refresh token').toBeUndefined();

    const original = await codeFlow({ registered: rpOffline, config, scope: 'openid email offline_access', expectLogin: false });
    expect(original.tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(config, original.tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(original.tokens.refresh_token);
    expect(refreshed.id_token).toBeTruthy();
    // Core §12.2: same iss, sub, aud; auth_time of the original authentication; no nonce needed.
    const { claims } = await verifyIdToken(t, refreshed.id_token!, { client: rpOffline, nonce: undefined, sub: original.claims.sub });
    expect(claims.auth_time).toBe(original.claims.auth_time);
    expect((await client.fetchUserInfo(config, refreshed.access_token, aliceId)).email).toBe('alice@example.com');

    // Bound to the client: another (authenticated) client cannot use it.
    const stolen = await postForm(
      `${t.baseUrl}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! },
      { authorization: basicFor(rpOther) },
    );
    expect(stolen.status, stolen.text).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds: a valid S256 PKCE request succeeds', async () => {
    await loggedIn();
    const { claims, tokens } = await codeFlow({ pkce: true, expectLogin: false });
    expect(claims.sub).toBe(aliceId);
    expect(tokens.access_token).toBeTruthy();
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds (negative): a wrong code_verifier → invalid_grant', async () => {
    await loggedIn();
    const verifier = client.randomPKCECodeVerifier();
    const callback = await silent({
      response_type: 'code',
      scope: 'openid',
      state: 's',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const result = await clientPost(t.baseUrl, '/oauth/token', rpBasic, {
      grant_type: 'authorization_code',
      code: callback.query.get('code')!,
      redirect_uri: rp.redirectUri,
      code_verifier: client.randomPKCECodeVerifier(),
    });
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('invalid_grant');
  });
});
