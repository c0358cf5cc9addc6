import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  accountSession,
  authorizeThrough,
  authorizeUrl,
  CallbackServer,
  clickAndWait,
  describePage,
  expectPage,
  expectSecurityHeaders,
  formFields,
  interceptRedirects,
  BrowserStage,
  postFormFrom,
  startBrowserStage,
  submitConsent,
  submitLogin,
  tamperCsrfToken,
  TestBrowser,
} from '../helpers/browser';
import { startTestApp, TestApp } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

/** Login sessions, CSRF protection, logout, consent management and page hardening, in Chromium. */
describe('browser: sessions, CSRF, logout and page security', () => {
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
      client_id: 'notes-spa',
      client_name: 'Notes SPA',
      token_endpoint_auth_method: 'none',
      redirect_uris: [rp.redirectUri],
      scope: 'notes:read notes:write',
    });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD, email: 'alice@example.com', name: 'Alice' })).id;
    for (const username of ['gina', 'hank', 'ivan', 'judy', 'kate', 'liam', 'mona', 'nina']) await t.createUser({ username, password: PASSWORD });
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await stage?.close();
  });

  const issuer = () => t.config.issuer;
  const codeUrl = (state = 'st', extra: Record<string, string> = {}) =>
    authorizeUrl(issuer(), {
      response_type: 'code',
      client_id: 'notes-spa',
      redirect_uri: rp.redirectUri,
      scope: 'notes:read',
      state,
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      ...extra,
    });

  const openLoginPage = async () => {
    page = await b.newPage();
    const response = await page.goto(codeUrl());
    await expectPage(page, 'login');
    return response;
  };

  const consentsOf = async (p: Page) => {
    const response = await p.context().request.get(`${issuer()}/account/consents`, { failOnStatusCode: false });
    expect(response.status(), await response.text()).toBe(200);
    return (await response.json()) as { client_id: string; client_name: string; scope: string }[];
  };

  describe('login', () => {
    it('a wrong password re-renders the login page (401) with a generic message, the same as for an unknown user, and creates no session', async () => {
      await openLoginPage();
      const redirects = interceptRedirects(page, rp);
      const wrong = await submitLogin(page, 'gina', 'not the password at all');
      expect(wrong?.status()).toBe(401);
      await expectPage(page, 'login');
      const wrongMessage = (await page.locator('[role="alert"]').first().innerText()).trim();
      expect(wrongMessage.length).toBeGreaterThan(0);
      expect(await page.content()).not.toContain('not the password at all'); // the password is never echoed
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });

      const unknown = await submitLogin(page, 'nobody-by-that-name', 'whatever password');
      expect(unknown?.status()).toBe(401);
      expect((await page.locator('[role="alert"]').first().innerText()).trim()).toBe(wrongMessage);
      expect(wrongMessage.toLowerCase()).not.toMatch(/unknown user|no such user|not found|wrong password|incorrect password/);
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });
      expect(redirects.received).toEqual([]);

      // The re-rendered page still works.
      await submitLogin(page, 'gina', PASSWORD);
      await submitConsent(page, 'allow');
      expect((await redirects.next()).query.get('code')).toBeTruthy();
    });

    it('/account/session reports the signed-in user (sub, username, auth_time, csrf_token) and is 401 JSON without a session', async () => {
      page = await b.newPage();
      const anonymous = await page.context().request.get(`${issuer()}/account/session`, { failOnStatusCode: false });
      expect(anonymous.status()).toBe(401);
      expect(anonymous.headers()['content-type']).toMatch(/json/);

      const before = Math.floor(Date.now() / 1000) - 1;
      await authorizeThrough(page, codeUrl(), interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
      const session = await accountSession(page, issuer());
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ sub: aliceId, username: 'alice' });
      expect(typeof session.body!.csrf_token).toBe('string');
      expect(session.body!.auth_time as number).toBeGreaterThanOrEqual(before);
      expect(session.body!.auth_time as number).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 1);
    });

    it('logging in replaces any session cookie the browser had before (no session fixation)', async () => {
      await openLoginPage();
      const before = (await page.context().cookies(issuer())).find((cookie) => cookie.name === 'gatehouse_session')?.value;
      await submitLogin(page, 'hank', PASSWORD);
      const after = (await page.context().cookies(issuer())).find((cookie) => cookie.name === 'gatehouse_session')?.value;
      expect(after).toBeTruthy();
      expect(after).not.toBe(before);
    });
    it.each([
      ['an absolute URL of another site', (attacker: string) => `${attacker}/stolen`],
      ['a scheme-relative URL', (attacker: string) => `//${new URL(attacker).host}/stolen`],
      ['a backslash trick', (attacker: string) => `/\\${new URL(attacker).host}/stolen`],
    ])('a tampered return_to (%s) cannot send the browser off-site after login (no open redirector, RFC 6749 §10.15)', async (_name, target) => {
      await openLoginPage();
      const attacker = rp.origin.replace('127.0.0.1', 'localhost');
      const before = rp.requests.length;
      await page.locator('form[action="/login"] input[name="return_to"]').evaluate((input, value) => (input.value = value), target(attacker));
      await submitLogin(page, 'alice', PASSWORD);
      await page.waitForTimeout(200);
      expect(new URL(page.url()).origin, await describePage(page)).toBe(new URL(issuer()).origin);
      expect(rp.requests.slice(before).map((request) => request.url.href)).toEqual([]);
    });
  });

  describe('CSRF (form posts need the csrf_token of their own session)', () => {
    const expectCsrfRefusal = async (response: Awaited<ReturnType<typeof clickAndWait>>) => {
      expect(response?.status(), await describePage(page)).toBe(403);
      await expect(page.locator('main').getAttribute('data-error')).resolves.toBe('invalid_csrf_token');
      await expectSecurityHeaders(response, 'CSRF error page');
    };

    it('POST /login without csrf_token → 403 invalid_csrf_token, not logged in', async () => {
      await openLoginPage();
      await tamperCsrfToken(page, '/login', undefined);
      await page.fill('#username', 'ivan');
      await page.fill('#password', PASSWORD);
      await expectCsrfRefusal(await clickAndWait(page, 'form[action="/login"] button[type="submit"]'));
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });
    });

    it('POST /login with a forged csrf_token → 403, not logged in', async () => {
      await openLoginPage();
      await tamperCsrfToken(page, '/login', 'forged-' + 'A'.repeat(40));
      await page.fill('#username', 'ivan');
      await page.fill('#password', PASSWORD);
      await expectCsrfRefusal(await clickAndWait(page, 'form[action="/login"] button[type="submit"]'));
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });
    });

    it('POST /login with the csrf_token of another browser’s session → 403, not logged in', async () => {
      const attacker = await b.newPage();
      await attacker.goto(codeUrl());
      const attackerToken = (await formFields(attacker, '/login')).csrf_token;
      expect(attackerToken).toBeTruthy();

      await openLoginPage();
      expect((await formFields(page, '/login')).csrf_token).not.toBe(attackerToken);
      await tamperCsrfToken(page, '/login', attackerToken);
      await page.fill('#username', 'ivan');
      await page.fill('#password', PASSWORD);
      await expectCsrfRefusal(await clickAndWait(page, 'form[action="/login"] button[type="submit"]'));
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });
    });

    it('POST /consent without csrf_token, or with a forged one → 403; no consent recorded, no redirect; the real form still works', async () => {
      await openLoginPage();
      const redirects = interceptRedirects(page, rp);
      await submitLogin(page, 'judy', PASSWORD);
      await expectPage(page, 'consent');
      const consentUrl = page.url();

      await tamperCsrfToken(page, '/consent', undefined);
      await expectCsrfRefusal(await clickAndWait(page, 'form[action="/consent"] button[value="allow"]'));
      expect(await consentsOf(page)).toEqual([]);

      await page.goto(consentUrl);
      await expectPage(page, 'consent');
      await tamperCsrfToken(page, '/consent', 'forged-' + 'B'.repeat(40));
      await expectCsrfRefusal(await clickAndWait(page, 'form[action="/consent"] button[value="allow"]'));
      expect(await consentsOf(page)).toEqual([]);
      expect(redirects.received).toEqual([]);

      await page.goto(consentUrl);
      await submitConsent(page, 'allow');
      expect((await redirects.next()).query.get('code')).toBeTruthy();
      expect((await consentsOf(page)).map((consent) => consent.client_id)).toEqual(['notes-spa']);
    });

    it('a cross-site page auto-submitting Allow to /consent gets nothing: no consent, no code', async () => {
      page = await b.newPage();
      const redirects = interceptRedirects(page, rp);
      await page.goto(codeUrl());
      await submitLogin(page, 'kate', PASSWORD);
      await expectPage(page, 'consent');
      const fields = await formFields(page, '/consent');

      // http://localhost:<port> is another site than http://127.0.0.1:<port>. The attacker
      // knows return_to but not the csrf_token; SameSite=Lax keeps the cookie home anyway.
      const attackerOrigin = rp.origin.replace('127.0.0.1', 'localhost');
      await postFormFrom(page, `${attackerOrigin}/attacker`, `${issuer()}/consent`, {
        return_to: fields.return_to ?? '',
        decision: 'allow',
        csrf_token: 'guessed',
      });
      await page.waitForLoadState('load');
      await page.waitForTimeout(300);
      expect(new URL(page.url()).pathname).not.toBe('/callback');
      expect(redirects.received).toEqual([]);
      expect(await consentsOf(page)).toEqual([]);
    });
  });

  describe('logout', () => {
    it('POST /logout with the csrf_token ends the session, shows the logged-out page; /oauth/authorize asks to log in again', async () => {
      page = await b.newPage();
      await authorizeThrough(page, codeUrl(), interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
      const session = await accountSession(page, issuer());
      expect(session.status).toBe(200);

      const response = await postFormFrom(page, `${issuer()}/account/session`, '/logout', { csrf_token: session.body!.csrf_token as string });
      expect(response?.status(), await describePage(page)).toBe(200);
      await expectPage(page, 'logged-out');
      await expectSecurityHeaders(response, 'logged-out page');
      expect(await accountSession(page, issuer())).toMatchObject({ status: 401 });

      await page.goto(codeUrl());
      await expectPage(page, 'login');
    });

    it('POST /logout without a valid csrf_token → 403 invalid_csrf_token, and the session survives', async () => {
      page = await b.newPage();
      await authorizeThrough(page, codeUrl(), interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
      for (const fields of [{}, { csrf_token: 'forged' }] as Record<string, string>[]) {
        const response = await postFormFrom(page, `${issuer()}/account/session`, '/logout', fields);
        expect(response?.status(), await describePage(page)).toBe(403);
        await expect(page.locator('main').getAttribute('data-error')).resolves.toBe('invalid_csrf_token');
      }
      expect(await accountSession(page, issuer())).toMatchObject({ status: 200 });
    });
  });

  describe('consent management (JSON endpoints)', () => {
    it('lists consents, refuses DELETE without X-CSRF-Token (403), withdraws with it (204); the consent page then appears again', async () => {
      page = await b.newPage();
      const redirects = interceptRedirects(page, rp);
      await page.goto(codeUrl());
      await submitLogin(page, 'liam', PASSWORD);
      await submitConsent(page, 'allow');
      await redirects.next();

      const consents = await consentsOf(page);
      expect(consents).toHaveLength(1);
      expect(consents[0]).toMatchObject({ client_id: 'notes-spa', client_name: 'Notes SPA', scope: 'notes:read' });

      // Remembered: straight back.
      await page.goto(codeUrl('again'));
      expect((await redirects.next()).query.get('state')).toBe('again');

      const csrf = (await accountSession(page, issuer())).body!.csrf_token as string;
      const request = page.context().request;
      const withoutHeader = await request.delete(`${issuer()}/account/consents/notes-spa`, { failOnStatusCode: false });
      expect(withoutHeader.status()).toBe(403);
      const wrongHeader = await request.delete(`${issuer()}/account/consents/notes-spa`, { headers: { 'X-CSRF-Token': 'forged' }, failOnStatusCode: false });
      expect(wrongHeader.status()).toBe(403);
      expect(await consentsOf(page)).toHaveLength(1);

      const withdrawn = await request.delete(`${issuer()}/account/consents/notes-spa`, { headers: { 'X-CSRF-Token': csrf }, failOnStatusCode: false });
      expect(withdrawn.status(), await withdrawn.text()).toBe(204);
      expect(await consentsOf(page)).toEqual([]);

      await page.goto(codeUrl('after'));
      await expectPage(page, 'consent');
    });

    it('the consent endpoints need a session: 401 without one', async () => {
      page = await b.newPage();
      const request = page.context().request;
      expect((await request.get(`${issuer()}/account/consents`, { failOnStatusCode: false })).status()).toBe(401);
      expect((await request.delete(`${issuer()}/account/consents/notes-spa`, { headers: { 'X-CSRF-Token': 'x' }, failOnStatusCode: false })).status()).toBe(
        401,
      );
    });
  });

  describe('cookie and page hardening', () => {
    it('the session cookie gatehouse_session is HttpOnly, SameSite=Lax, Path=/, and not Secure on an http issuer', async () => {
      page = await b.newPage();
      await authorizeThrough(page, codeUrl(), interceptRedirects(page, rp), { username: 'alice', password: PASSWORD });
      const cookie = (await page.context().cookies(issuer())).find((candidate) => candidate.name === 'gatehouse_session');
      expect(cookie, JSON.stringify(await page.context().cookies())).toBeDefined();
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', secure: false });
      // HttpOnly for real: the issuer's own pages cannot read it.
      await page.goto(codeUrl('x', { prompt: 'login' }));
      expect(await page.evaluate('document.cookie')).not.toContain('gatehouse_session');
    });

    it('the session cookie is Secure when the issuer is https', async () => {
      const https = await startTestApp({ env: { ISSUER: 'https://id.example.test', LOGIN_RATE_LIMIT: '10000' } });
      try {
        await https.createClient({ client_id: 'app', token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example.test/cb'], scope: 'notes:read' });
        await https.createUser({ username: 'alice', password: PASSWORD });
        const url = authorizeUrl(https.baseUrl, {
          response_type: 'code',
          client_id: 'app',
          redirect_uri: 'https://app.example.test/cb',
          scope: 'notes:read',
          state: 's',
          code_challenge: CHALLENGE,
          code_challenge_method: 'S256',
        });
        const loginPage = await fetch(url, { redirect: 'manual' });
        expect(loginPage.status).toBe(200);
        let cookies = loginPage.headers.getSetCookie().filter((line) => line.startsWith('gatehouse_session='));
        if (cookies.length === 0) {
          // No cookie before login: log in over HTTP and look at that response.
          const html = await loginPage.text();
          const field = (name: string) =>
            new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1] ?? new RegExp(`value="([^"]*)"[^>]*name="${name}"`).exec(html)?.[1];
          const login = await fetch(`${https.baseUrl}/login`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              username: 'alice',
              password: PASSWORD,
              csrf_token: field('csrf_token') ?? '',
              return_to: (field('return_to') ?? '').replace(/&amp;/g, '&'),
            }).toString(),
          });
          cookies = login.headers.getSetCookie().filter((line) => line.startsWith('gatehouse_session='));
        }
        expect(cookies.length).toBeGreaterThan(0);
        for (const line of cookies) {
          const attributes = line.split(';').map((part) => part.trim().toLowerCase());
          expect(attributes, line).toContain('secure');
          expect(attributes, line).toContain('httponly');
          expect(attributes, line).toContain('samesite=lax');
          expect(attributes, line).toContain('path=/');
        }
      } finally {
        await https.close();
      }
    });

    it('login, consent and error pages send CSP frame-ancestors none, Referrer-Policy no-referrer, Cache-Control no-store, nosniff', async () => {
      const loginResponse = await openLoginPage();
      await expectSecurityHeaders(loginResponse, 'login page');
      const failed = await submitLogin(page, 'nina', 'wrong password here');
      expect(failed?.status()).toBe(401);
      await expectSecurityHeaders(failed, 'failed-login page');

      const consentResponse = await submitLogin(page, 'mona', PASSWORD);
      await expectPage(page, 'consent');
      await expectSecurityHeaders(consentResponse, 'consent page');

      const errorResponse = await page.goto(authorizeUrl(issuer(), { response_type: 'code', client_id: 'no-such-client', redirect_uri: rp.redirectUri }));
      expect(errorResponse?.status()).toBe(400);
      await expectSecurityHeaders(errorResponse, 'error page');
    });

    it('the login page cannot be framed by another site (frame-ancestors enforced by the browser)', async () => {
      page = await b.newPage();
      const framer = rp.origin.replace('127.0.0.1', 'localhost');
      await page.goto(`${framer}/framer`);
      // A control frame (the relying party's page, no frame-ancestors) and the victim.
      await page.setContent(`<iframe id="control" src="${rp.origin}/framed"></iframe><iframe id="victim" src="${codeUrl().replace(/&/g, '&amp;')}"></iframe>`);
      const control = page.frameLocator('#control');
      await control.locator('body[data-callback]').waitFor({ state: 'attached' });
      await page.waitForTimeout(500);
      expect(await page.frameLocator('#victim').locator('form[action="/login"]').count()).toBe(0);
      const victim = page
        .frames()
        .find((frame) => frame.name() === 'victim' || frame.url().includes('/oauth/authorize') || frame.url().startsWith('chrome-error:'));
      if (victim) expect(await victim.locator('#password').count()).toBe(0);
    });
  });
});
