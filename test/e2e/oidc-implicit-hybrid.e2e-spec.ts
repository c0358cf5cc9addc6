import * as jose from 'jose';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  Callback,
  CallbackServer,
  describePage,
  interceptRedirects,
  launchBrowser,
  pageKind,
  startCallbackServer,
  submitConsent,
  submitLogin,
  TestBrowser,
} from '../helpers/browser';
import { clientPost, request } from '../helpers/http';
import { discoverOidc, IdTokenClaims, oidcHalfHash, verifyIdToken } from '../helpers/oidc';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA', 'HS256'] as const;

/**
 * The OpenID Foundation's implicit and hybrid OP plans (oidcc-implicit-certification-test-plan,
 * oidcc-hybrid-certification-test-plan), their form-post variants
 * (oidcc-formpost-{basic,implicit,hybrid}-certification-test-plan), and the ID-token signing
 * algorithms a client may register (id_token_signed_response_alg), each verified with jose.
 * Test titles start with the conformance module they cover; the bracket names the plan variant.
 */
describe('OpenID Connect implicit, hybrid and form_post OP plans; ID-token signing algorithms', () => {
  let t: TestApp;
  let b: TestBrowser;
  let rp: CallbackServer;
  let page: Page;
  let implicitRp: TestClient;
  let hybridRp: TestClient;
  let codeOnlyRp: TestClient;
  const algRps = new Map<string, TestClient>();
  let aliceId: string;

  beforeAll(async () => {
    await Promise.all([
      startTestApp({ env: { LOGIN_RATE_LIMIT: '10000' } }).then((app) => (t = app)),
      launchBrowser().then((browser) => (b = browser)),
      startCallbackServer().then((server) => (rp = server)),
    ]);
    const common = { redirect_uris: [rp.redirectUri], scope: 'openid profile email phone', first_party: true };
    implicitRp = await t.createClient({
      client_id: 'rp-implicit',
      client_name: 'RP Implicit',
      grant_types: ['implicit'],
      response_types: ['id_token', 'id_token token'],
      ...common,
    });
    hybridRp = await t.createClient({
      client_id: 'rp-hybrid',
      client_name: 'RP Hybrid',
      grant_types: ['authorization_code', 'implicit'],
      response_types: ['code', 'code id_token', 'code token', 'code id_token token'],
      require_pkce: false,
      ...common,
    });
    codeOnlyRp = await t.createClient({
      client_id: 'rp-code-only',
      client_name: 'RP Code Only',
      grant_types: ['authorization_code'],
      require_pkce: false,
      ...common,
    });
    for (const alg of ALGORITHMS) {
      algRps.set(
        alg,
        await t.createClient({
          client_id: `rp-alg-${alg.toLowerCase()}`,
          client_name: `RP ${alg}`,
          grant_types: ['authorization_code', 'implicit'],
          response_types: ['code', 'id_token', 'code id_token token'],
          require_pkce: false,
          id_token_signed_response_alg: alg,
          userinfo_signed_response_alg: alg,
          ...common,
        }),
      );
    }
    aliceId = (
      await t.createUser({
        username: 'alice',
        password: PASSWORD,
        email: 'alice@example.com',
        name: 'Alice Liddell',
        given_name: 'Alice',
        phone_number: '+1 555 0100',
      })
    ).id;
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await Promise.all([b?.close(), rp?.close(), t?.close()]);
  });

  /** A fresh browser, through the login page, to whatever reaches the redirect URI. */
  const authorize = async (registered: TestClient, params: Record<string, string | undefined>): Promise<Callback> => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(authorizeUrl(t.config.issuer, { client_id: registered.client_id, redirect_uri: rp.redirectUri, ...params }));
    for (let step = 0; step < 3; step++) {
      const kind = await pageKind(page);
      if (kind === 'login') await submitLogin(page, 'alice', PASSWORD);
      else if (kind === 'consent') await submitConsent(page, 'allow');
      else if (kind === 'error') throw new Error(`unexpected error page: ${await describePage(page)}`);
      else break;
    }
    return redirects.next();
  };

  /** Fragment checks of Core §3.2.2.5 / §3.3.2.5: nothing in the query, state and iss in the fragment. */
  const expectFragmentResponse = (callback: Callback, state: string) => {
    expect(callback.method).toBe('GET');
    expect(callback.request.url.search, 'nothing in the query').toBe('');
    expect(callback.fragment.get('error'), callback.url.hash).toBeNull();
    expect(callback.fragment.get('state')).toBe(state);
    expect(callback.fragment.get('iss')).toBe(t.config.issuer);
  };

  const userInfo = (accessToken: string) => request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });

  // --- Implicit plan -----------------------------------------------------------------------------

  it('oidcc-server [implicit, id_token]: the ID token arrives in the fragment with nonce and state; validated by openid-client; no access token', async () => {
    const config = await discoverOidc(t, implicitRp);
    client.useIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(implicitRp, { response_type: 'id_token', scope: 'openid', state, nonce });
    expectFragmentResponse(callback, state);
    expect(callback.fragment.get('access_token')).toBeNull();
    expect(callback.fragment.get('code')).toBeNull();
    const claims = await client.implicitAuthentication(config, callback.url, nonce, { expectedState: state });
    expect(claims.sub).toBe(aliceId);
    const { claims: verified } = await verifyIdToken(t, callback.fragment.get('id_token')!, { client: implicitRp, nonce });
    expect(verified.at_hash).toBeUndefined();
    expect(verified.c_hash).toBeUndefined();
    expect(typeof verified.auth_time).toBe('number');
  });

  it('oidcc-server [implicit, id_token token]: ID token and access token in the fragment; at_hash matches; UserInfo works; no refresh token', async () => {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(implicitRp, { response_type: 'id_token token', scope: 'openid email', state, nonce });
    expectFragmentResponse(callback, state);
    const accessToken = callback.fragment.get('access_token')!;
    expect(accessToken).toBeTruthy();
    expect(callback.fragment.get('token_type')?.toLowerCase()).toBe('bearer');
    expect(callback.fragment.get('refresh_token')).toBeNull();
    const { claims } = await verifyIdToken(t, callback.fragment.get('id_token')!, { client: implicitRp, nonce, accessToken });
    expect(claims.at_hash).toBeTruthy();
    // An access token came along: the email claim comes from UserInfo, not the ID token (Core §5.4).
    expect(claims.email).toBeUndefined();
    const info = await userInfo(accessToken);
    expect(info.status, info.text).toBe(200);
    expect(info.body).toMatchObject({ sub: aliceId, email: 'alice@example.com' });
  });

  it('oidcc-scope-all [implicit, id_token]: with no access token the scope claims are in the ID token', async () => {
    const nonce = client.randomNonce();
    const callback = await authorize(implicitRp, { response_type: 'id_token', scope: 'openid profile email phone', state: 's', nonce });
    const { claims } = await verifyIdToken(t, callback.fragment.get('id_token')!, { client: implicitRp, nonce });
    expect(claims).toMatchObject({ name: 'Alice Liddell', given_name: 'Alice', email: 'alice@example.com', phone_number: '+1 555 0100' });
  });

  it('oidcc-ensure-request-without-nonce-fails [implicit]: id_token and id_token token without nonce → invalid_request in the fragment, no token', async () => {
    for (const responseType of ['id_token', 'id_token token']) {
      const callback = await authorize(implicitRp, { response_type: responseType, scope: 'openid', state: 'st-nonce' });
      expect(callback.fragment.get('error'), responseType).toBe('invalid_request');
      expect(callback.fragment.get('state')).toBe('st-nonce');
      expect(callback.fragment.get('id_token')).toBeNull();
      expect(callback.fragment.get('access_token')).toBeNull();
    }
  });

  it('oidcc-ensure-request-without-nonce-fails [hybrid]: code id_token without nonce → invalid_request, no code', async () => {
    const callback = await authorize(hybridRp, { response_type: 'code id_token', scope: 'openid', state: 'st-nonce' });
    expect(callback.fragment.get('error')).toBe('invalid_request');
    expect(callback.fragment.get('code')).toBeNull();
  });

  it('oidcc-server [negative]: response_type=id_token without the openid scope is refused at the redirect URI', async () => {
    const callback = await authorize(implicitRp, { response_type: 'id_token', scope: 'email', state: 'st-scope', nonce: 'n' });
    expect(['invalid_scope', 'invalid_request']).toContain(callback.fragment.get('error'));
    expect(callback.fragment.get('state')).toBe('st-scope');
    expect(callback.fragment.get('id_token')).toBeNull();
  });

  it('oidcc-server [negative]: a response_type the client did not register → unauthorized_client; response_mode=query for an ID token → invalid_request', async () => {
    const unregistered = await authorize(codeOnlyRp, { response_type: 'code id_token', scope: 'openid', state: 'st-rt', nonce: 'n' });
    expect(unregistered.fragment.get('error')).toBe('unauthorized_client');
    const query = await authorize(implicitRp, { response_type: 'id_token', response_mode: 'query', scope: 'openid', state: 'st-q', nonce: 'n' });
    expect(query.query.get('error') ?? query.fragment.get('error')).toBe('invalid_request');
    expect(query.query.get('id_token') ?? query.fragment.get('id_token')).toBeNull();
  });

  // --- Hybrid plan -------------------------------------------------------------------------------

  it('oidcc-server [hybrid, code id_token]: c_hash matches; the code redeems (openid-client) to an ID token with the same iss and sub', async () => {
    const config = await discoverOidc(t, hybridRp);
    client.useCodeIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code id_token', scope: 'openid', state, nonce });
    expectFragmentResponse(callback, state);
    const code = callback.fragment.get('code')!;
    const front = await verifyIdToken(t, callback.fragment.get('id_token')!, { client: hybridRp, nonce, code });
    expect(front.claims.c_hash).toBeTruthy();
    expect(front.claims.at_hash).toBeUndefined();
    const tokens = await client.authorizationCodeGrant(config, callback.url, { expectedState: state, expectedNonce: nonce });
    const back = await verifyIdToken(t, tokens.id_token!, { client: hybridRp, nonce });
    // Core §3.3.3.6: iss and sub identical in both ID tokens.
    expect(back.claims.sub).toBe(front.claims.sub);
    expect(back.claims.iss).toBe(front.claims.iss);
  });

  it('oidcc-server [hybrid, code token]: code and access token in the fragment, no ID token there; the code redeems to an ID token', async () => {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code token', scope: 'openid email', state, nonce });
    expectFragmentResponse(callback, state);
    expect(callback.fragment.get('id_token')).toBeNull();
    const accessToken = callback.fragment.get('access_token')!;
    expect(accessToken).toBeTruthy();
    expect((await userInfo(accessToken)).body.email).toBe('alice@example.com');
    const exchanged = await clientPost(t.baseUrl, '/oauth/token', hybridRp, {
      grant_type: 'authorization_code',
      code: callback.fragment.get('code')!,
      redirect_uri: rp.redirectUri,
    });
    expect(exchanged.status, exchanged.text).toBe(200);
    const { claims } = await verifyIdToken(t, exchanged.body.id_token as string, { client: hybridRp, nonce });
    expect(claims.sub).toBe(aliceId);
  });

  it('oidcc-server [hybrid, code id_token token]: c_hash and at_hash both match; the token-endpoint ID token has the same sub', async () => {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code id_token token', scope: 'openid', state, nonce });
    expectFragmentResponse(callback, state);
    const code = callback.fragment.get('code')!;
    const accessToken = callback.fragment.get('access_token')!;
    const front = await verifyIdToken(t, callback.fragment.get('id_token')!, { client: hybridRp, nonce, code, accessToken });
    expect(front.claims.c_hash).toBeTruthy();
    expect(front.claims.at_hash).toBeTruthy();
    const exchanged = await clientPost(t.baseUrl, '/oauth/token', hybridRp, { grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri });
    expect(exchanged.status, exchanged.text).toBe(200);
    const back = await verifyIdToken(t, exchanged.body.id_token as string, { client: hybridRp, nonce, accessToken: exchanged.body.access_token as string });
    expect(back.claims.sub).toBe(front.claims.sub);
  });

  it('oidcc-codereuse [hybrid]: a hybrid code redeemed twice → invalid_grant', async () => {
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code id_token', scope: 'openid', state: 's', nonce });
    const params = { grant_type: 'authorization_code', code: callback.fragment.get('code')!, redirect_uri: rp.redirectUri };
    expect((await clientPost(t.baseUrl, '/oauth/token', hybridRp, params)).status).toBe(200);
    const again = await clientPost(t.baseUrl, '/oauth/token', hybridRp, params);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds [hybrid]: code id_token with S256 PKCE', async () => {
    const config = await discoverOidc(t, hybridRp);
    client.useCodeIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const callback = await authorize(hybridRp, {
      response_type: 'code id_token',
      scope: 'openid',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const tokens = await client.authorizationCodeGrant(config, callback.url, { expectedState: state, expectedNonce: nonce, pkceCodeVerifier: verifier });
    expect(tokens.claims()?.sub).toBe(aliceId);
  });

  // --- Form post plans (OAuth 2.0 Form Post Response Mode) ------------------------------------------

  it('oidcc-server [form_post, code]: the code is POSTed to the redirect URI (nothing in the URL) and redeems with openid-client', async () => {
    const config = await discoverOidc(t, hybridRp);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code', response_mode: 'form_post', scope: 'openid', state, nonce });
    expect(callback.method).toBe('POST');
    expect(callback.request.url.search).toBe('');
    expect(callback.form?.get('state')).toBe(state);
    expect(callback.form?.get('iss')).toBe(t.config.issuer);
    const tokens = await client.authorizationCodeGrant(config, callback.toRequest(), { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()?.sub).toBe(aliceId);
  });

  it('oidcc-server [form_post, id_token]: the ID token is POSTed; validated by openid-client', async () => {
    const config = await discoverOidc(t, implicitRp);
    client.useIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(implicitRp, { response_type: 'id_token', response_mode: 'form_post', scope: 'openid', state, nonce });
    expect(callback.method).toBe('POST');
    expect(callback.url.hash).toBe('');
    const claims = await client.implicitAuthentication(config, callback.toRequest(), nonce, { expectedState: state });
    expect(claims.sub).toBe(aliceId);
  });

  it('oidcc-server [form_post, id_token token]: ID token and access token POSTed; at_hash matches', async () => {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(implicitRp, { response_type: 'id_token token', response_mode: 'form_post', scope: 'openid', state, nonce });
    expect(callback.method).toBe('POST');
    const form = callback.form!;
    expect(form.get('state')).toBe(state);
    const accessToken = form.get('access_token')!;
    await verifyIdToken(t, form.get('id_token')!, { client: implicitRp, nonce, accessToken });
  });

  it('oidcc-server [form_post, code id_token]: c_hash matches; openid-client validates the POSTed hybrid response and redeems the code', async () => {
    const config = await discoverOidc(t, hybridRp);
    client.useCodeIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code id_token', response_mode: 'form_post', scope: 'openid', state, nonce });
    expect(callback.method).toBe('POST');
    await verifyIdToken(t, callback.form!.get('id_token')!, { client: hybridRp, nonce, code: callback.form!.get('code')! });
    const tokens = await client.authorizationCodeGrant(config, callback.toRequest(), { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()?.sub).toBe(aliceId);
  });

  it('oidcc-server [form_post, code id_token token]: c_hash and at_hash match in the POSTed ID token', async () => {
    const nonce = client.randomNonce();
    const callback = await authorize(hybridRp, { response_type: 'code id_token token', response_mode: 'form_post', scope: 'openid', state: 's', nonce });
    const form = callback.form!;
    await verifyIdToken(t, form.get('id_token')!, { client: hybridRp, nonce, code: form.get('code')!, accessToken: form.get('access_token')! });
  });

  it('oidcc-prompt-none-not-logged-in [form_post]: the login_required error is POSTed too', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(
      authorizeUrl(t.config.issuer, {
        client_id: implicitRp.client_id,
        redirect_uri: rp.redirectUri,
        response_type: 'id_token',
        response_mode: 'form_post',
        scope: 'openid',
        state: 'st-fp',
        nonce: 'n',
        prompt: 'none',
      }),
    );
    const callback = await redirects.next();
    expect(callback.method).toBe('POST');
    expect(callback.form?.get('error')).toBe('login_required');
    expect(callback.form?.get('state')).toBe('st-fp');
  });

  // --- Signing algorithms (id_token_signed_response_alg, userinfo_signed_response_alg) --------------

  it('oidcc-discovery-endpoint-verification [algorithms]: discovery lists every ID-token algorithm offered, and the JWKS has a key for each asymmetric one', async () => {
    const discovery = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    const jwks = (await request<jose.JSONWebKeySet>(`${t.baseUrl}/.well-known/jwks.json`)).body;
    for (const alg of ALGORITHMS) {
      expect(discovery.id_token_signing_alg_values_supported, alg).toContain(alg);
      expect(discovery.userinfo_signing_alg_values_supported, alg).toContain(alg);
      if (alg !== 'HS256')
        expect(
          jwks.keys.some((key) => key.alg === alg),
          `a JWKS key for ${alg}`,
        ).toBe(true);
    }
  });

  for (const alg of ALGORITHMS) {
    it(`oidcc-idtoken-signature [${alg}]: code flow ID token signed with ${alg}, verified with jose${alg === 'HS256' ? ' and the client secret' : ' and the JWKS'}; signed UserInfo too`, async () => {
      const registered = algRps.get(alg)!;
      const nonce = client.randomNonce();
      const callback = await authorize(registered, { response_type: 'code', scope: 'openid email', state: 's', nonce });
      const exchanged = await clientPost(t.baseUrl, '/oauth/token', registered, {
        grant_type: 'authorization_code',
        code: callback.query.get('code')!,
        redirect_uri: rp.redirectUri,
      });
      expect(exchanged.status, exchanged.text).toBe(200);
      const { header, claims } = await verifyIdToken(t, exchanged.body.id_token as string, { client: registered, alg, nonce });
      expect(header.alg).toBe(alg);
      expect(claims.sub).toBe(aliceId);
      if (alg === 'HS256') {
        // The client secret, not a server key: nothing in the JWKS can verify it.
        expect(header.kid).toBeUndefined();
      }
      const info = await userInfo(exchanged.body.access_token as string);
      expect(info.status, info.text).toBe(200);
      expect(info.headers.get('content-type')).toMatch(/^application\/jwt/);
      const key =
        alg === 'HS256'
          ? new TextEncoder().encode(registered.client_secret)
          : jose.createLocalJWKSet((await request<jose.JSONWebKeySet>(`${t.baseUrl}/.well-known/jwks.json`)).body);
      const verified = await jose.jwtVerify(info.text, key as Parameters<typeof jose.jwtVerify>[1], {
        issuer: t.config.issuer,
        audience: registered.client_id,
        algorithms: [alg],
      });
      expect(verified.payload).toMatchObject({ sub: aliceId, email: 'alice@example.com' });
    });

    it(`oidcc-server [hybrid, code id_token token, ${alg}]: c_hash and at_hash use the hash of ${alg} (Core §3.3.2.11)`, async () => {
      const registered = algRps.get(alg)!;
      const nonce = client.randomNonce();
      const callback = await authorize(registered, { response_type: 'code id_token token', scope: 'openid', state: 's', nonce });
      const { claims } = await verifyIdToken(t, callback.fragment.get('id_token')!, {
        client: registered,
        alg,
        nonce,
        code: callback.fragment.get('code')!,
        accessToken: callback.fragment.get('access_token')!,
      });
      expect(claims.c_hash).toBe(oidcHalfHash(callback.fragment.get('code')!, alg));
    });
  }

  it('oidcc-idtoken-signature [ES256, implicit id_token]: openid-client validates an ES256 implicit ID token with the registered alg', async () => {
    const registered = algRps.get('ES256')!;
    const config = await discoverOidc(t, registered, { metadata: { id_token_signed_response_alg: 'ES256' } });
    client.useIdTokenResponseType(config);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = await authorize(registered, { response_type: 'id_token', scope: 'openid', state, nonce });
    const claims: IdTokenClaims = (await client.implicitAuthentication(config, callback.url, nonce, { expectedState: state })) as IdTokenClaims;
    expect(claims.sub).toBe(aliceId);
  });
});
