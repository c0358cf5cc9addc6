import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, jwtPayload } from '../helpers/http';
import {
  authorizeThrough,
  authorizeUrl,
  CallbackServer,
  interceptRedirects,
  BrowserStage,
  loginAndConsent,
  startBrowserStage,
  TestBrowser,
} from '../helpers/browser';
import { TestApp } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/** RFC 6749 §4.2 implicit grant (response_type=token) in Chromium. */
describe('browser: implicit grant', () => {
  let stage: BrowserStage | undefined;
  let t: TestApp;
  let b: TestBrowser;
  let rp: CallbackServer;
  let page: Page;
  let aliceId: string;

  beforeAll(async () => {
    stage = await startBrowserStage();
    ({ gatehouse: t, browser: b, rp } = stage);
    await t.createClient({
      client_id: 'legacy-spa',
      client_name: 'Legacy SPA',
      token_endpoint_auth_method: 'none',
      grant_types: ['implicit'],
      response_types: ['token'],
      redirect_uris: [rp.redirectUri],
      scope: 'notes:read notes:write',
    });
    // Registered for codes only.
    await t.createClient({
      client_id: 'notes-spa',
      client_name: 'Notes SPA',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [rp.redirectUri],
      scope: 'notes:read notes:write',
    });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await stage?.close();
  });

  const implicitUrl = (params: Record<string, string | undefined> = {}) =>
    authorizeUrl(t.config.issuer, {
      response_type: 'token',
      client_id: 'legacy-spa',
      redirect_uri: rp.redirectUri,
      scope: 'notes:read',
      state: 'implicit-state',
      ...params,
    });

  it('returns the access token in the fragment (access_token, token_type=Bearer, expires_in, scope, state, iss) and never a refresh token', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(implicitUrl());
    const callback = await loginAndConsent(page, redirects, { username: 'alice', password: PASSWORD });

    // Nothing in the query: the server (and its logs) never see the token.
    expect(callback.query.toString()).toBe('');
    expect(callback.request.url.search).toBe('');
    const fragment = callback.fragment;
    expect(fragment.get('access_token')).toBeTruthy();
    expect(fragment.get('token_type')?.toLowerCase()).toBe('bearer');
    expect(Number(fragment.get('expires_in'))).toBeGreaterThan(0);
    expect(fragment.get('scope')).toBe('notes:read');
    expect(fragment.get('state')).toBe('implicit-state');
    expect(fragment.get('iss')).toBe(t.config.issuer);
    expect(fragment.has('refresh_token')).toBe(false); // RFC 6749 §4.2.2
    expect(fragment.has('code')).toBe(false);

    const token = fragment.get('access_token')!;
    expect(jwtPayload(token)).toMatchObject({ sub: aliceId, client_id: 'legacy-spa', scope: 'notes:read' });
    expect((await api(t.baseUrl, '/api/notes', token)).status).toBe(200);
    // The page's script sees the fragment as the SPA would.
    expect(new URLSearchParams(((await page.evaluate('location.hash')) as string).slice(1)).get('state')).toBe('implicit-state');
  });

  it('the next implicit authorization reuses the session and the remembered consent', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await authorizeThrough(page, implicitUrl(), redirects, { username: 'alice', password: PASSWORD });
    await page.goto(implicitUrl({ state: 'again' }));
    const callback = await redirects.next();
    expect(callback.fragment.get('state')).toBe('again');
    expect(callback.fragment.get('access_token')).toBeTruthy();
  });

  it('never puts an access token in the query, even when response_mode=query is asked for', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await authorizeThrough(page, implicitUrl(), redirects, { username: 'alice', password: PASSWORD });
    await page.goto(implicitUrl({ response_mode: 'query', state: 'q' }));
    await page.waitForTimeout(300);
    for (const request of redirects.received) expect(request.url.searchParams.has('access_token'), request.url.href).toBe(false);
  });

  it('response_type=token for a client not registered for the implicit grant → unauthorized_client in the fragment, with state and iss', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(implicitUrl({ client_id: 'notes-spa', state: 's1' }));
    const callback = await redirects.next();
    // RFC 6749 §4.2.2.1: implicit errors go in the fragment.
    expect(callback.fragment.get('error'), callback.url.href).toBe('unauthorized_client');
    expect(callback.fragment.get('state')).toBe('s1');
    expect(callback.fragment.get('iss')).toBe(t.config.issuer);
    expect(callback.fragment.has('access_token')).toBe(false);
  });

  it('response_type=code for a client registered only for the implicit grant → unauthorized_client', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(
      implicitUrl({
        response_type: 'code',
        state: 's2',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
    );
    const callback = await redirects.next();
    expect(callback.params.get('error'), callback.url.href).toBe('unauthorized_client');
    expect(callback.params.get('state')).toBe('s2');
    expect(callback.params.has('code')).toBe(false);
  });

  it('an implicit request with a scope beyond the registration → invalid_scope in the fragment', async () => {
    page = await b.newPage();
    const redirects = interceptRedirects(page, rp);
    await page.goto(implicitUrl({ scope: 'notes:read admin', state: 's3' }));
    const callback = await redirects.next();
    expect(callback.fragment.get('error'), callback.url.href).toBe('invalid_scope');
    expect(callback.fragment.get('state')).toBe('s3');
  });
});
