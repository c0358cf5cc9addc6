import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, formBody, jwtPayload } from '../helpers/http';
import { authorizeThrough, authorizeUrl, CallbackServer, interceptRedirects, BrowserStage, startBrowserStage, TestBrowser } from '../helpers/browser';
import { TestApp } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';
const ELSEWHERE = 'http://127.0.0.1:5999';

/**
 * CORS (Fetch standard) for browser-based clients: the token endpoint answers the origins
 * its clients registered (allowed_cors_origins), the authorization endpoint never (it is a
 * top-level navigation), and the public documents answer everyone.
 */
describe('browser: CORS', () => {
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
      first_party: true,
      redirect_uris: [rp.redirectUri],
      allowed_cors_origins: [rp.origin],
      scope: 'notes:read',
    });
    await t.createClient({
      client_id: 'other-spa',
      client_name: 'Other SPA',
      token_endpoint_auth_method: 'none',
      redirect_uris: [rp.redirectUri],
      allowed_cors_origins: [ELSEWHERE],
      scope: 'notes:read',
    });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
  });
  afterEach(() => b?.closeContexts());
  afterAll(async () => {
    await stage?.close();
  });

  const preflight = (path: string, origin: string) =>
    fetch(`${t.baseUrl}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  /** A code for notes-spa, obtained in the browser; the page is left on the callback (origin rp.origin). */
  const codeInBrowser = async () => {
    page = await b.newPage();
    const verifier = client.randomPKCECodeVerifier();
    const callback = await authorizeThrough(
      page,
      authorizeUrl(t.config.issuer, {
        response_type: 'code',
        client_id: 'notes-spa',
        redirect_uri: rp.redirectUri,
        scope: 'notes:read',
        state: 'cors',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
      interceptRedirects(page, rp),
      { username: 'alice', password: PASSWORD },
    );
    return { code: callback.query.get('code')!, verifier };
  };

  const tokenRequestBody = (code: string, verifier: string, clientId = 'notes-spa') =>
    formBody({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: rp.redirectUri, code_verifier: verifier });

  describe('over HTTP (headers)', () => {
    it('OPTIONS /oauth/token from an origin some client registered: Access-Control-Allow-Origin echoes it, and POST is allowed', async () => {
      const response = await preflight('/oauth/token', rp.origin);
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get('access-control-allow-origin')).toBe(rp.origin);
      expect((response.headers.get('access-control-allow-methods') ?? '').toUpperCase()).toContain('POST');
    });

    it('a response that echoes the origin says Vary: Origin (so caches do not serve it to another origin)', async () => {
      const response = await preflight('/oauth/token', rp.origin);
      expect((response.headers.get('vary') ?? '').toLowerCase()).toContain('origin');
    });

    it('OPTIONS /oauth/token from an origin no client registered gets no Access-Control-Allow-Origin', async () => {
      const response = await preflight('/oauth/token', 'https://evil.example');
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('POST /oauth/token from the client’s registered origin carries Access-Control-Allow-Origin for that origin', async () => {
      const { code, verifier } = await codeInBrowser();
      const response = await fetch(`${t.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { origin: rp.origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: tokenRequestBody(code, verifier),
      });
      expect(response.status, await response.clone().text()).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe(rp.origin);
      expect(response.headers.get('access-control-allow-origin')).not.toBe('*');
    });

    it('POST /oauth/token from an origin registered by another client only: no Access-Control-Allow-Origin', async () => {
      const asOther = await fetch(`${t.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { origin: rp.origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: tokenRequestBody('no-such-code', client.randomPKCECodeVerifier(), 'other-spa'),
      });
      expect(asOther.headers.get('access-control-allow-origin')).toBeNull();
      const fromElsewhere = await fetch(`${t.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { origin: ELSEWHERE, 'content-type': 'application/x-www-form-urlencoded' },
        body: tokenRequestBody('no-such-code', client.randomPKCECodeVerifier(), 'notes-spa'),
      });
      expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('/oauth/authorize never sends Access-Control-Allow-Origin, not even to a registered origin', async () => {
      const url = authorizeUrl(t.baseUrl, {
        response_type: 'code',
        client_id: 'notes-spa',
        redirect_uri: rp.redirectUri,
        scope: 'notes:read',
        state: 's',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      });
      for (const method of ['GET', 'OPTIONS']) {
        const response = await fetch(url, { method, redirect: 'manual', headers: { origin: rp.origin, 'access-control-request-method': 'GET' } });
        expect(response.headers.get('access-control-allow-origin'), method).toBeNull();
      }
    });

    it.each(['/.well-known/jwks.json', '/.well-known/oauth-authorization-server'])('%s allows any origin', async (path) => {
      const response = await fetch(`${t.baseUrl}${path}`, { headers: { origin: 'https://anyone.example' } });
      expect(response.status).toBe(200);
      expect(['*', 'https://anyone.example']).toContain(response.headers.get('access-control-allow-origin'));
    });
  });

  describe('in Chromium (the browser enforces it)', () => {
    it('a single-page app at its registered origin redeems the code with fetch() and calls the API', async () => {
      const { code, verifier } = await codeInBrowser();
      expect(new URL(page.url()).origin).toBe(rp.origin);
      const result = await page.evaluate(
        async ({ url, body }) => {
          const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
          return { status: response.status, json: (await response.json()) as Record<string, string> };
        },
        { url: `${t.baseUrl}/oauth/token`, body: tokenRequestBody(code, verifier) },
      );
      expect(result.status).toBe(200);
      expect(jwtPayload(result.json.access_token)).toMatchObject({ sub: aliceId, client_id: 'notes-spa' });
      expect((await api(t.baseUrl, '/api/me', result.json.access_token)).status).toBe(200);
    });

    it('a page of another origin cannot read the token endpoint’s response', async () => {
      page = await b.newPage();
      // http://localhost:<port> is not a registered origin.
      await page.goto(`${rp.origin.replace('127.0.0.1', 'localhost')}/elsewhere`);
      const outcome = await page.evaluate(
        async ({ url, body }) => {
          try {
            const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
            return `read ${response.status}`;
          } catch (error) {
            return `blocked: ${String(error)}`;
          }
        },
        { url: `${t.baseUrl}/oauth/token`, body: tokenRequestBody('no-such-code', 'v'.repeat(43)) },
      );
      expect(outcome).toMatch(/^blocked: TypeError/);
    });

    it('any page can read the metadata and the JWKS', async () => {
      page = await b.newPage();
      await page.goto(`${rp.origin.replace('127.0.0.1', 'localhost')}/anywhere`);
      const results = await page.evaluate(
        async (urls) => Promise.all(urls.map(async (url) => (await fetch(url)).status)),
        [`${t.baseUrl}/.well-known/oauth-authorization-server`, `${t.baseUrl}/.well-known/jwks.json`],
      );
      expect(results).toEqual([200, 200]);
    });
  });
});
