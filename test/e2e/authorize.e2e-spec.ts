import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/**
 * The authorization endpoint over plain HTTP (no browser): request validation, where
 * errors go, and the session-less answers. Browser journeys are in browser-*.e2e-spec.ts.
 */
describe('authorization endpoint (RFC 6749 §3.1, §4.1.2.1; RFC 7636; RFC 9207)', () => {
  let gatehouse: TestApp;
  let web: TestClient;
  let spa: TestClient;
  let legacy: TestClient;
  const redirectUri = 'http://127.0.0.1:7001/callback';
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  beforeAll(async () => {
    gatehouse = await startTestApp();
    web = await gatehouse.createClient({
      client_name: 'Web',
      redirect_uris: [redirectUri, 'http://127.0.0.1:7001/other'],
      grant_types: ['authorization_code'],
      scope: 'openid notes:read',
    });
    spa = await gatehouse.createClient({
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none',
      scope: 'notes:read',
    });
    legacy = await gatehouse.createClient({ redirect_uris: [redirectUri], grant_types: ['implicit'], response_types: ['token'], scope: 'notes:read' });
  });
  afterAll(() => gatehouse?.close());

  const authorize = (params: Record<string, string>) => fetch(`${gatehouse.baseUrl}/oauth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
  const valid = (overrides: Record<string, string> = {}) => ({
    client_id: web.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    state: 'st-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  });
  const redirectParams = (response: Response) => {
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
    return Object.fromEntries(new URLSearchParams(location.hash ? location.hash.slice(1) : location.search));
  };
  const errorPageCode = async (response: Response) => {
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    return /data-error="([^"]+)"/.exec(await response.text())?.[1];
  };

  it('shows the login page, with a new session cookie, to a browser without a session', async () => {
    const response = await authorize(valid());
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('data-page="login"');
    expect(response.headers.get('set-cookie')).toMatch(/^gatehouse_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax/);
    expect(response.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('answers pages with no-store, no-referrer, nosniff and a CSP that forbids framing and scripts', async () => {
    const response = await authorize(valid());
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('content-security-policy')).toContain("script-src 'none'");
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each([
    ['no client_id', { client_id: '' }, 'invalid_client'],
    ['an unknown client', { client_id: 'nobody' }, 'invalid_client'],
    ['an unregistered redirect_uri', { redirect_uri: 'http://127.0.0.1:7001/evil' }, 'invalid_redirect_uri'],
    ['a redirect_uri differing by a trailing slash', { redirect_uri: `${redirectUri}/` }, 'invalid_redirect_uri'],
    ['a redirect_uri with an extra query', { redirect_uri: `${redirectUri}?next=x` }, 'invalid_redirect_uri'],
    ['no redirect_uri with two registered', { redirect_uri: '' }, 'invalid_redirect_uri'],
  ])('shows an error page and never redirects for %s', async (_, overrides, code) => {
    expect(await errorPageCode(await authorize(valid(overrides)))).toBe(code);
  });

  it('shows an error page for a repeated client_id or redirect_uri', async () => {
    const query = `${new URLSearchParams(valid())}&redirect_uri=${encodeURIComponent('http://127.0.0.1:7001/other')}`;
    const response = await fetch(`${gatehouse.baseUrl}/oauth/authorize?${query}`, { redirect: 'manual' });
    expect(await errorPageCode(response)).toBe('invalid_redirect_uri');
  });

  it.each([
    ['a missing response_type', { response_type: '' }, 'invalid_request'],
    ['an unknown response_type', { response_type: 'magic' }, 'unsupported_response_type'],
    ['response_type=token for a client not registered for implicit', { response_type: 'token' }, 'unauthorized_client'],
    ['a scope the client may not ask for', { scope: 'openid admin' }, 'invalid_scope'],
    ['a missing code_challenge (PKCE is required by default)', { code_challenge: '', code_challenge_method: '' }, 'invalid_request'],
    ['code_challenge_method=plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['a code_challenge without a method (defaults to plain)', { code_challenge_method: '' }, 'invalid_request'],
    ['a malformed code_challenge', { code_challenge: 'short' }, 'invalid_request'],
    ['an unknown response_mode', { response_mode: 'web_message' }, 'invalid_request'],
    ['prompt=none without a session', { prompt: 'none' }, 'login_required'],
    ['prompt=none combined with login', { prompt: 'none login' }, 'invalid_request'],
  ])('redirects %s back with error, error_description, the untouched state and iss', async (_, overrides, code) => {
    const params = redirectParams(await authorize(valid(overrides)));
    expect(params).toMatchObject({ error: code, state: 'st-123', iss: gatehouse.config.issuer });
    expect(params.error_description).toEqual(expect.any(String));
  });

  it('requires PKCE of a public client', async () => {
    const params = redirectParams(await authorize(valid({ client_id: spa.client_id, code_challenge: '', code_challenge_method: '' })));
    expect(params.error).toBe('invalid_request');
  });

  it('returns state byte for byte, whatever it contains', async () => {
    const state = 'a b+c/d?e=f&g=h#i~%';
    const params = redirectParams(await authorize(valid({ state, prompt: 'none' })));
    expect(params.state).toBe(state);
  });

  it('sends errors of form_post requests as an auto-submitting form to the redirect URI', async () => {
    const response = await authorize(valid({ prompt: 'none', response_mode: 'form_post' }));
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain(`<form method="post" action="${redirectUri}">`);
    expect(html).toContain('name="error" value="login_required"');
    expect(response.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[^']+'/);
    expect(response.headers.get('content-security-policy')).toContain("form-action 'self' http://127.0.0.1:7001");
  });

  it('never returns an implicit response in the query', async () => {
    const params = redirectParams(
      await authorize({ client_id: legacy.client_id, redirect_uri: redirectUri, response_type: 'token', response_mode: 'query', state: 's' }),
    );
    expect(params.error).toBe('invalid_request');
  });

  it('sends implicit errors in the fragment', async () => {
    const response = await authorize({ client_id: legacy.client_id, redirect_uri: redirectUri, response_type: 'token', prompt: 'none', state: 's' });
    expect(new URL(response.headers.get('location')!).hash).toContain('error=login_required');
  });

  it('accepts the same request by POST (form body)', async () => {
    const response = await fetch(`${gatehouse.baseUrl}/oauth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(valid()),
      redirect: 'manual',
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('data-page="login"');
  });

  it('refuses a login form without the session cookie with an actionable page', async () => {
    const response = await fetch(`${gatehouse.baseUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'x', password: 'y', csrf_token: 'z' }),
    });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(html).toContain('data-error="session_cookie_missing"');
    expect(html).toMatch(/TRUST_PROXY/);
  });

  it('lists the authorization endpoint, response types and modes, S256 and RFC 9207 support in the metadata', async () => {
    const metadata = (await (await fetch(`${gatehouse.baseUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      authorization_endpoint: `${gatehouse.config.issuer}/oauth/authorize`,
      response_types_supported: ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'implicit']));
  });
});
