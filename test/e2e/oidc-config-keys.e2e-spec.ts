import * as jose from 'jose';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/keys/key-store';
import { CallbackServer, describePage, interceptRedirects, launchBrowser, pageKind, startCallbackServer, submitLogin, TestBrowser } from '../helpers/browser';
import { request } from '../helpers/http';
import { discoverOidc, fetchJwks, verifyIdToken } from '../helpers/oidc';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/**
 * The config plan (oidcc-config-certification-test-plan: oidcc-discovery-endpoint-verification)
 * and the dynamic plan's key-rotation modules (oidcc-server-rotate-keys,
 * oidcc-refresh-token-rp-key-rotation): discovery read by openid-client with its default
 * `oidc` algorithm, and signing keys rotated with KEY_PUBLISH_DELAY=0s.
 */
describe('OpenID Connect discovery (config plan) and key rotation', () => {
  let t: TestApp;
  let b: TestBrowser;
  let rp: CallbackServer;
  let page: Page;
  let web: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    await Promise.all([
      startTestApp({ env: { LOGIN_RATE_LIMIT: '10000', KEY_PUBLISH_DELAY: '0s' } }).then((app) => (t = app)),
      launchBrowser().then((browser) => (b = browser)),
      startCallbackServer().then((server) => (rp = server)),
    ]);
    web = await t.createClient({
      client_id: 'rp-rotation',
      client_name: 'RP Rotation',
      first_party: true,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [rp.redirectUri],
      scope: 'openid email offline_access',
    });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD, email: 'alice@example.com' })).id;
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await Promise.all([b?.close(), rp?.close(), t?.close()]);
  });

  /** Code flow with PKCE and offline_access, through the login page; exchanged by openid-client. */
  const signIn = async (config: client.Configuration, extra: Record<string, string> = {}) => {
    page ??= await b.newPage();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid email offline_access',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    const redirects = interceptRedirects(page, rp);
    await page.goto(url.href);
    if ((await pageKind(page)) === 'login') await submitLogin(page, 'alice', PASSWORD);
    const callback = await redirects.next();
    expect(callback.query.get('error'), await describePage(page)).toBeNull();
    const tokens = await client.authorizationCodeGrant(config, callback.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { tokens, nonce };
  };

  it('oidcc-discovery-endpoint-verification: /.well-known/openid-configuration is JSON, its issuer is the URL it was fetched from, and the required members are there', async () => {
    const result = await request(`${t.baseUrl}/.well-known/openid-configuration`);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    const metadata = result.body;
    // Discovery §4.3: the issuer is identical to the one the configuration was derived from.
    expect(metadata.issuer).toBe(t.config.issuer);
    for (const member of [
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'jwks_uri',
      'response_types_supported',
      'subject_types_supported',
      'id_token_signing_alg_values_supported',
      'scopes_supported',
      'claims_supported',
    ]) {
      expect(metadata[member], member).toBeDefined();
    }
    for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) {
      expect(String(metadata[endpoint]).startsWith(t.config.issuer), endpoint).toBe(true);
    }
    expect(metadata.response_types_supported).toEqual(
      expect.arrayContaining(['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']),
    );
    expect(metadata.response_modes_supported).toEqual(expect.arrayContaining(['query', 'fragment', 'form_post']));
    expect(metadata.subject_types_supported).toContain('public');
    expect(metadata.id_token_signing_alg_values_supported).toContain('RS256');
    expect(metadata.id_token_signing_alg_values_supported).not.toContain('none');
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']));
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'iss', 'auth_time', 'name', 'email', 'address', 'phone_number']));
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'implicit', 'refresh_token']));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));

    // openid-client's own discovery (default `oidc` algorithm) accepts it.
    const config = await discoverOidc(t, web);
    expect(config.serverMetadata().issuer).toBe(t.config.issuer);
    expect(config.serverMetadata().userinfo_endpoint).toBe(`${t.config.issuer}/oauth/userinfo`);

    // The JWKS: public keys only, unique kids, one per key, each with kty and alg.
    const jwks = await fetchJwks(t);
    const kids = jwks.keys.map((key) => key.kid);
    expect(new Set(kids).size).toBe(kids.length);
    for (const key of jwks.keys) {
      expect(key.kid).toBeTruthy();
      expect(key.kty).toBeTruthy();
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key, `${String(key.kid)} ${secret}`).not.toHaveProperty(secret);
      if (key.use !== undefined) expect(key.use).toBe('sig');
    }
  });

  it('oidcc-discovery-endpoint-verification: the RFC 8414 and OpenID documents agree', async () => {
    const oidc = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    const oauth = (await request(`${t.baseUrl}/.well-known/oauth-authorization-server`)).body;
    expect(oauth.issuer).toBe(oidc.issuer);
    expect(oauth.jwks_uri).toBe(oidc.jwks_uri);
  });

  it('oidcc-server-rotate-keys / oidcc-refresh-token-rp-key-rotation: after a rotation the JWKS gains a new key and keeps the old one; a refreshed ID token names the new kid and verifies', async () => {
    const config = await discoverOidc(t, web);
    const { tokens, nonce } = await signIn(config);
    const original = await verifyIdToken(t, tokens.id_token!, { client: web, nonce });
    const oldKid = original.header.kid!;
    const before = await fetchJwks(t);

    await t.app.get(KeyStore).rotate();

    const after = await fetchJwks(t);
    const newRsa = after.keys.filter((key) => key.alg === 'RS256' && !before.keys.some((old) => old.kid === key.kid));
    expect(newRsa.length, 'a new RS256 key is published').toBeGreaterThanOrEqual(1);
    expect(
      after.keys.some((key) => key.kid === oldKid),
      'the old key stays published',
    ).toBe(true);
    // An ID token signed before the rotation still verifies against the new JWKS.
    await jose.jwtVerify(tokens.id_token!, jose.createLocalJWKSet(after), { issuer: t.config.issuer, audience: web.client_id });

    // The refresh is signed by the new key, and says so in its kid.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    const renewed = await verifyIdToken(t, refreshed.id_token!, { client: web, sub: aliceId });
    expect(renewed.header.kid).not.toBe(oldKid);
    expect(newRsa.map((key) => key.kid)).toContain(renewed.header.kid);
    expect(renewed.claims.auth_time).toBe(original.claims.auth_time);

    // The access tokens of both sides of the rotation work at UserInfo.
    for (const accessToken of [tokens.access_token, refreshed.access_token]) {
      const info = await request(`${t.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(info.status, info.text).toBe(200);
      expect(info.body.sub).toBe(aliceId);
    }

    // An id_token_hint signed by the old key is still recognised (prompt=none, same user).
    const silent = await signIn(config, { prompt: 'none', id_token_hint: tokens.id_token! });
    const hinted = await verifyIdToken(t, silent.tokens.id_token!, { client: web, nonce: silent.nonce, sub: aliceId });
    expect(newRsa.map((key) => key.kid)).toContain(hinted.header.kid);
  });
});
