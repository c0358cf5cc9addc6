import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackchannelLogoutSender } from '../../src/logout/backchannel-logout.sender';
import { launchBrowser } from '../helpers/browser';
import { api, clientPost, expectOAuthError, JsonBody, obtainToken, request, waitUntil } from '../helpers/http';
import { rawJwt, withPayload } from '../helpers/jwt';
import { fetchJwks, sleep } from '../helpers/oidc';
import { startTestApp, TestApp, TestClient, TestInstance } from '../helpers/test-app';
import { recordSecretParams } from '../helpers/test-run';
import { dataPage, hiddenField, unescapeHtml } from '../helpers/web-flow';

const PASSWORD = 'correct horse battery staple';
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A relying party's back-channel endpoint: records every POST; answers `statuses` in turn (then 200). */
interface Receiver {
  origin: string;
  received: { path: string; body: URLSearchParams; contentType: string | undefined }[];
  statuses: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const statuses: number[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      recordSecretParams(body); // logout tokens, for the log scan after the suite
      received.push({ path: req.url ?? '/', body, contentType: req.headers['content-type'] });
      res.writeHead(statuses.shift() ?? 200, { 'cache-control': 'no-store' }).end();
    });
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    statuses,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cookieOf = (response: Response): string | undefined => /gatehouse_session=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
const dataError = (html: string) => /data-error="([^"]+)"/.exec(html)?.[1];

/**
 * OpenID Connect RP-Initiated Logout 1.0, Back-Channel Logout 1.0 and Front-Channel Logout
 * 1.0, over HTTP with a cookie jar of one: the titles name the OpenID conformance-suite
 * modules they mirror. Logging out ends the session's grants (their refresh tokens at once,
 * their access tokens on every instance within a second), except offline_access ones.
 */
describe('logout (RP-Initiated, Back-Channel, Front-Channel)', () => {
  let t: TestApp;
  let b: TestInstance;
  let receiver: Receiver;
  let rp: TestClient;
  let notesApp: TestClient;
  let frontApp: TestClient;
  const rpOrigin = 'http://127.0.0.1:7301';
  const redirectUri = `${rpOrigin}/callback`;
  const afterLogout = `${rpOrigin}/logged-out`;
  const afterLogoutWithQuery = `${rpOrigin}/logged-out?foo=bar`;
  let userId: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestApp();
    b = await t.startInstance();
    rp = await t.createClient({
      client_id: 'rp',
      client_name: 'Relying Party',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile offline_access notes:read',
      post_logout_redirect_uris: [afterLogout, afterLogoutWithQuery],
      backchannel_logout_uri: `${receiver.origin}/backchannel/rp`,
    });
    notesApp = await t.createClient({
      client_id: 'notes-app',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'notes:read',
    });
    frontApp = await t.createClient({
      client_id: 'front-app',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      scope: 'openid notes:read',
      frontchannel_logout_uri: `${receiver.origin}/frontchannel?client=front-app`,
    });
    userId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  // --- A browser over HTTP: login, authorize, tokens ----------------------------------------

  interface Browser {
    cookie: string;
  }

  const get = (path: string, browser?: Browser) =>
    fetch(path.startsWith('http') ? path : `${t.baseUrl}${path}`, {
      redirect: 'manual',
      headers: browser ? { cookie: `gatehouse_session=${browser.cookie}` } : {},
    });
  const post = (path: string, form: Record<string, string>, browser?: Browser, base = t.baseUrl) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(browser ? { cookie: `gatehouse_session=${browser.cookie}` } : {}) },
      body: new URLSearchParams(form).toString(),
    });

  const pkce = () => {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  };

  /** Authorizes `client` in `browser`'s session (signing in first when needed); returns the token response. */
  async function authorize(client: TestClient, scope: string, browser: Browser | undefined): Promise<{ browser: Browser; tokens: JsonBody }> {
    const { verifier, challenge } = pkce();
    const query = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope,
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    let response = await get(`/oauth/authorize?${query}`, browser);
    if (response.status === 200) {
      const html = await response.text();
      expect(dataPage(html)).toBe('login');
      const anonymous = { cookie: cookieOf(response) ?? browser!.cookie };
      const login = await post(
        '/login',
        { csrf_token: hiddenField(html, 'csrf_token')!, return_to: hiddenField(html, 'return_to')!, username: 'alice', password: PASSWORD },
        anonymous,
      );
      expect(login.status, await login.clone().text()).toBe(303);
      browser = { cookie: cookieOf(login)! };
      response = await get(login.headers.get('location')!, browser);
    }
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    const code = location.searchParams.get('code');
    expect(code, location.toString()).toBeTruthy();
    const tokens = await obtainToken(t.baseUrl, client, { grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: verifier });
    return { browser: browser!, tokens: tokens as unknown as JsonBody };
  }

  const signIn = async (client = rp, scope = 'openid notes:read') => authorize(client, scope, undefined);
  const sessionStatus = async (browser: Browser) => (await get('/account/session', browser)).status;
  const meStatus = async (token: string, baseUrl = t.baseUrl) => (await api(baseUrl, '/api/me', token)).status;
  const logoutUrl = (params: Record<string, string | undefined>) => {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
    return `/oauth/logout?${query}`;
  };
  const expectErrorPage = async (response: Response, error = 'invalid_request') => {
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    const html = await response.text();
    expect(dataPage(html)).toBe('error');
    expect(dataError(html)).toBe(error);
  };
  const expectConfirmation = async (response: Response): Promise<Record<string, string>> => {
    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    const html = await response.text();
    expect(dataPage(html)).toBe('logout-confirm');
    expect(html).toContain('Sign out of Gatehouse?');
    expect(html).toContain('action="/oauth/logout/confirm"');
    const fields: Record<string, string> = {};
    for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[match[1]] = unescapeHtml(match[2]);
    return fields;
  };
  const receivedFor = (sid: string) =>
    receiver.received.filter((entry) => entry.body.has('logout_token') && (jose.decodeJwt(entry.body.get('logout_token')!) as { sid?: string }).sid === sid);

  // --- Discovery and registration -----------------------------------------------------------

  it('advertises end_session_endpoint and back-/front-channel logout with sid in the discovery document', async () => {
    const metadata = (await request(`${t.baseUrl}/.well-known/openid-configuration`)).body;
    expect(metadata).toMatchObject({
      end_session_endpoint: `${t.config.issuer}/oauth/logout`,
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
      frontchannel_logout_supported: true,
      frontchannel_logout_session_supported: true,
    });
  });

  it.each([
    ['backchannel_logout_uri', 'http://rp.example.com/bc'],
    ['backchannel_logout_uri', 'https://rp.example.com/bc#x'],
    ['frontchannel_logout_uri', 'http://rp.example.com/fc'],
    ['frontchannel_logout_uri', 'not a uri'],
  ])('refuses %s %s at registration (https except loopback, no fragment)', async (field, value) => {
    await expect(t.createClient({ redirect_uris: [redirectUri], [field]: value })).rejects.toMatchObject({ code: 'invalid_client_metadata' });
  });

  // --- RP-Initiated Logout ------------------------------------------------------------------

  it('oidcc-rp-initiated-logout: a valid id_token_hint logs out at once and redirects with state; tokens die on every instance; back-channel delivered', async () => {
    const { browser, tokens } = await signIn();
    const idToken = tokens.id_token as string;
    const sid = (jose.decodeJwt(idToken) as { sid: string }).sid;
    expect(sid).toEqual(expect.any(String));
    // The same session also gives a plain OAuth app a refresh token (no openid, so no offline_access needed).
    const other = await authorize(notesApp, 'notes:read', browser);
    expect(other.tokens.refresh_token).toEqual(expect.any(String));
    const accessToken = tokens.access_token as string;
    // Both instances have verified and cached the tokens before the logout.
    for (const base of [t.baseUrl, b.baseUrl]) {
      expect(await meStatus(accessToken, base)).toBe(200);
      expect(await meStatus(other.tokens.access_token as string, base)).toBe(200);
    }

    const response = await get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: afterLogout, state: 'bye-123' }), browser);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${afterLogout}?state=bye-123`);
    expect(response.headers.get('set-cookie')).toMatch(/^gatehouse_session=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0/);
    expect(await sessionStatus(browser)).toBe(401);

    const elapsed = await waitUntil(async () => {
      for (const base of [t.baseUrl, b.baseUrl]) {
        if ((await meStatus(accessToken, base)) !== 401 || (await meStatus(other.tokens.access_token as string, base)) !== 401) return false;
      }
      return true;
    }, 1000);
    expect(elapsed).toBeLessThanOrEqual(1000);
    expectOAuthError(
      await clientPost(t.baseUrl, '/oauth/token', notesApp, { grant_type: 'refresh_token', refresh_token: other.tokens.refresh_token as string }),
      400,
      'invalid_grant',
    );

    // Back-channel: only rp registered a backchannel_logout_uri; its logout token verifies against the JWKS.
    await waitUntil(async () => receivedFor(sid).length > 0, 5000);
    const [delivery] = receivedFor(sid);
    expect(delivery.path).toBe('/backchannel/rp');
    expect(delivery.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    const logoutToken = delivery.body.get('logout_token')!;
    const { payload, protectedHeader } = await jose.jwtVerify(logoutToken, jose.createLocalJWKSet(await fetchJwks(t)), {
      issuer: t.config.issuer,
      audience: 'rp',
      algorithms: ['RS256'],
      typ: 'logout+jwt',
      requiredClaims: ['iat', 'jti', 'sub', 'sid', 'events'],
    });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload.events).toEqual({ [BACKCHANNEL_EVENT]: {} });
    expect(payload.sid).toBe(sid);
    expect(payload.sub).toBe(userId);
    expect(payload).not.toHaveProperty('nonce');
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('oidcc-rp-initiated-logout-bad-id-token-hint: a hint not signed by this server is an error page, the session stays', async () => {
    const { browser, tokens } = await signIn();
    const claims = jose.decodeJwt(tokens.id_token as string);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: jose.decodeProtectedHeader(tokens.id_token as string).kid })
      .sign(privateKey);
    for (const hint of [forged, 'not-a-jwt', rawJwt({ alg: 'none' }, claims)]) {
      await expectErrorPage(await get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: afterLogout, state: 's' }), browser));
    }
    expect(await sessionStatus(browser)).toBe(200);
    expect(await meStatus(tokens.access_token as string)).toBe(200);
  });

  it('oidcc-rp-initiated-logout-modified-id-token-hint: a hint whose payload was changed is an error page, never a redirect', async () => {
    const { browser, tokens } = await signIn();
    const claims = jose.decodeJwt(tokens.id_token as string);
    const modified = withPayload(tokens.id_token as string, { ...claims, sub: 'someone-else' });
    await expectErrorPage(await get(logoutUrl({ id_token_hint: modified, post_logout_redirect_uri: afterLogout, state: 's' }), browser));
    expect(await sessionStatus(browser)).toBe(200);
  });

  it('refuses a client_id that is not the hint audience, and a hint issued by another issuer', async () => {
    const { browser, tokens } = await signIn();
    await expectErrorPage(await get(logoutUrl({ id_token_hint: tokens.id_token as string, client_id: 'notes-app' }), browser));
    expect(await sessionStatus(browser)).toBe(200);
  });

  it('oidcc-rp-initiated-logout-no-id-token-hint: asks for confirmation (CSRF-bound form), then logs out and redirects with state', async () => {
    const { browser, tokens } = await signIn();
    const fields = await expectConfirmation(await get(logoutUrl({ client_id: 'rp', post_logout_redirect_uri: afterLogout, state: 'st-1' }), browser));
    expect(fields).toMatchObject({ client_id: 'rp', post_logout_redirect_uri: afterLogout, state: 'st-1', csrf_token: expect.any(String) });
    expect(await sessionStatus(browser)).toBe(200);

    // A forged confirmation (wrong CSRF token) changes nothing.
    const forged = await post('/oauth/logout/confirm', { ...fields, csrf_token: 'forged', decision: 'logout' }, browser);
    expect(forged.status).toBe(403);
    expect(await sessionStatus(browser)).toBe(200);

    const confirmed = await post('/oauth/logout/confirm', { ...fields, decision: 'logout' }, browser);
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toBe(`${afterLogout}?state=st-1`);
    expect(await sessionStatus(browser)).toBe(401);
    await waitUntil(async () => (await meStatus(tokens.access_token as string)) === 401, 1000);
  });

  it('the confirmation can be cancelled: the session and its tokens stay', async () => {
    const { browser, tokens } = await signIn();
    const fields = await expectConfirmation(await get(logoutUrl({ client_id: 'rp', post_logout_redirect_uri: afterLogout }), browser));
    const cancelled = await post('/oauth/logout/confirm', { ...fields, decision: 'cancel' }, browser);
    expect(cancelled.status).toBe(200);
    expect(dataPage(await cancelled.text())).toBe('logout-cancelled');
    expect(await sessionStatus(browser)).toBe(200);
    expect(await meStatus(tokens.access_token as string)).toBe(200);
  });

  it('a hint for another session (an older login) asks for confirmation instead of logging out', async () => {
    const first = await signIn();
    const second = await signIn();
    await expectConfirmation(await get(logoutUrl({ id_token_hint: first.tokens.id_token as string }), second.browser));
    expect(await sessionStatus(second.browser)).toBe(200);
  });

  it('oidcc-rp-initiated-logout-no-params: asks for confirmation, then shows the signed-out page', async () => {
    const { browser } = await signIn();
    const fields = await expectConfirmation(await get('/oauth/logout', browser));
    expect(Object.keys(fields)).toEqual(['csrf_token']);
    const confirmed = await post('/oauth/logout/confirm', { ...fields, decision: 'logout' }, browser);
    expect(confirmed.status).toBe(200);
    expect(dataPage(await confirmed.text())).toBe('logged-out');
    expect(await sessionStatus(browser)).toBe(401);
  });

  it('oidcc-rp-initiated-logout-no-post-logout-redirect-uri: a valid hint alone logs out and shows the signed-out page', async () => {
    const { browser, tokens } = await signIn();
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string, state: 'unused' }), browser);
    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    expect(dataPage(await response.text())).toBe('logged-out');
    expect(await sessionStatus(browser)).toBe(401);
  });

  it('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri: an unregistered post_logout_redirect_uri is an error page, never a redirect', async () => {
    const { browser, tokens } = await signIn();
    for (const uri of [`${rpOrigin}/elsewhere`, `${afterLogout}/`, `${afterLogout}?x=1`, 'https://evil.example.com/']) {
      await expectErrorPage(await get(logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: uri, state: 's' }), browser));
    }
    // Without a client to check it against, a post_logout_redirect_uri is refused too.
    await expectErrorPage(await get(logoutUrl({ post_logout_redirect_uri: afterLogout }), browser));
    expect(await sessionStatus(browser)).toBe(200);
  });

  it('oidcc-rp-initiated-logout-no-state: redirects to the registered URI exactly, without state', async () => {
    const { browser, tokens } = await signIn();
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: afterLogout }), browser);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(afterLogout);
  });

  it('oidcc-rp-initiated-logout-only-state: state without post_logout_redirect_uri never redirects', async () => {
    const { browser, tokens } = await signIn();
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string, state: 'only' }), browser);
    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    expect(dataPage(await response.text())).toBe('logged-out');
  });

  it('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri: keeps the registered query and adds state', async () => {
    const { browser, tokens } = await signIn();
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: afterLogoutWithQuery, state: 'q st' }), browser);
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(afterLogout);
    expect(location.searchParams.get('foo')).toBe('bar');
    expect(location.searchParams.get('state')).toBe('q st');
  });

  it('accepts POST to the end_session_endpoint, and an expired-session browser is simply sent back', async () => {
    const { browser, tokens } = await signIn();
    const response = await post('/oauth/logout', { id_token_hint: tokens.id_token as string, post_logout_redirect_uri: afterLogout, state: 'p' }, browser);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${afterLogout}?state=p`);
    // The same request again, the session already gone: nothing to end, back to the client.
    const again = await get(logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: afterLogout, state: 'p' }), browser);
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe(`${afterLogout}?state=p`);
  });

  it('a repeated parameter is an error page', async () => {
    const { browser } = await signIn();
    const response = await get(`/oauth/logout?state=a&state=b`, browser);
    await expectErrorPage(response);
  });

  // --- What a logout ends -------------------------------------------------------------------

  it('an offline_access grant survives logout (default LOGOUT_REVOKES_OFFLINE_ACCESS=false); the others in the session do not', async () => {
    const { browser, tokens } = await signIn(rp, 'openid offline_access notes:read');
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const online = await authorize(notesApp, 'notes:read', browser);
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string }), browser);
    expect(dataPage(await response.text())).toBe('logged-out');

    await waitUntil(async () => (await meStatus(online.tokens.access_token as string, b.baseUrl)) === 401, 1000);
    await sleep(200);
    expect(await meStatus(tokens.access_token as string)).toBe(200);
    expect(await meStatus(tokens.access_token as string, b.baseUrl)).toBe(200);
    const refreshed = await clientPost(t.baseUrl, '/oauth/token', rp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string });
    expect(refreshed.status, refreshed.text).toBe(200);
  });

  it('POST /logout (the signed-in page form) is the same full logout: grants end, front-channel iframes with iss and sid', async () => {
    const { browser, tokens } = await signIn(frontApp, 'openid notes:read');
    const sid = (jose.decodeJwt(tokens.id_token as string) as { sid: string }).sid;
    const csrf = ((await (await get('/account/session', browser)).json()) as { csrf_token: string }).csrf_token;
    const response = await post('/logout', { csrf_token: csrf }, browser);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(dataPage(html)).toBe('logged-out');
    const src = unescapeHtml(/<iframe src="([^"]+)"/.exec(html)![1]);
    const frame = new URL(src);
    expect(`${frame.origin}${frame.pathname}`).toBe(`${receiver.origin}/frontchannel`);
    expect(frame.searchParams.get('client')).toBe('front-app');
    expect(frame.searchParams.get('iss')).toBe(t.config.issuer);
    expect(frame.searchParams.get('sid')).toBe(sid);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain(`frame-src ${receiver.origin}`);
    expect(csp).toContain("frame-ancestors 'none'");
    await waitUntil(async () => (await meStatus(tokens.access_token as string)) === 401, 1000);
  });

  it('front-channel with a post_logout_redirect_uri: the signed-out page loads the iframes, then continues (script with a nonce)', async () => {
    const registered = await t.createClient({
      client_id: 'front-rp',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      scope: 'openid',
      post_logout_redirect_uris: [afterLogout],
      frontchannel_logout_uri: `${receiver.origin}/frontchannel/front-rp`,
    });
    const { browser, tokens } = await signIn(registered, 'openid');
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: afterLogout, state: 'f' }), browser);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain(`data-continue="${afterLogout}?state=f"`);
    const nonce = /<script nonce="([^"]+)">/.exec(html)![1];
    expect(response.headers.get('content-security-policy')).toContain(`script-src 'nonce-${nonce}'`);
  });

  it('front-channel in Chromium: the iframe reaches the client with iss and sid under the page CSP, then the browser continues to post_logout_redirect_uri', async () => {
    const bye = `${receiver.origin}/bye`;
    const registered = await t.createClient({
      client_id: 'front-browser',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      scope: 'openid',
      post_logout_redirect_uris: [bye],
      frontchannel_logout_uri: `${receiver.origin}/frontchannel/front-browser`,
    });
    const { browser, tokens } = await signIn(registered, 'openid');
    const sid = (jose.decodeJwt(tokens.id_token as string) as { sid: string }).sid;
    const chromium = await launchBrowser();
    try {
      const page = await chromium.newPage();
      await page.context().addCookies([{ name: 'gatehouse_session', value: browser.cookie, url: t.baseUrl }]);
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      await page.goto(`${t.baseUrl}${logoutUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: bye, state: 'chromium' })}`);
      await page.waitForURL(`${bye}?state=chromium`, { timeout: 10_000 });
      const frame = receiver.received.find((entry) => entry.path.startsWith('/frontchannel/front-browser'));
      expect(frame, 'the front-channel iframe was requested').toBeDefined();
      const query = new URL(frame!.path, receiver.origin).searchParams;
      expect(query.get('iss')).toBe(t.config.issuer);
      expect(query.get('sid')).toBe(sid);
      expect(violations).toEqual([]);
    } finally {
      await chromium.close();
    }
  }, 30_000);

  it('back-channel delivery is retried with backoff when the client answers an error', async () => {
    const { browser, tokens } = await signIn();
    const sid = (jose.decodeJwt(tokens.id_token as string) as { sid: string }).sid;
    receiver.statuses.push(503);
    const response = await get(logoutUrl({ id_token_hint: tokens.id_token as string }), browser);
    expect(response.status).toBe(200);
    await waitUntil(async () => receivedFor(sid).length >= 2, 8000, 100);
    const [first, second] = receivedFor(sid);
    expect(first.body.get('logout_token')).toBe(second.body.get('logout_token'));
    await t.app.get(BackchannelLogoutSender).idle();
    const pending: unknown[] = await t.app.get(BackchannelLogoutSender)['db'].query('SELECT id FROM backchannel_logout_deliveries');
    expect(pending).toEqual([]);
  }, 15_000);

  // --- The account's sessions and grants ----------------------------------------------------

  it('lists the user’s sessions, ends another one (its grants too) and revokes a grant, with X-CSRF-Token', async () => {
    const laptop = await signIn();
    const phone = await signIn();
    const csrf = ((await (await get('/account/session', phone.browser)).json()) as { csrf_token: string }).csrf_token;
    const listed = (await (await get('/account/sessions', phone.browser)).json()) as {
      id: string;
      current: boolean;
      created_at: string;
      last_seen_at: string;
    }[];
    const laptopSid = (jose.decodeJwt(laptop.tokens.id_token as string) as { sid: string }).sid;
    const phoneSid = (jose.decodeJwt(phone.tokens.id_token as string) as { sid: string }).sid;
    expect(listed.find((s) => s.id === phoneSid)).toMatchObject({ current: true, created_at: expect.any(String), last_seen_at: expect.any(String) });
    expect(listed.find((s) => s.id === laptopSid)).toMatchObject({ current: false });

    const del = (path: string, token?: string) =>
      fetch(`${t.baseUrl}${path}`, {
        method: 'DELETE',
        headers: { cookie: `gatehouse_session=${phone.browser.cookie}`, ...(token ? { 'x-csrf-token': token } : {}) },
      });
    expect((await del(`/account/sessions/${laptopSid}`)).status).toBe(403);
    expect((await del(`/account/sessions/${laptopSid}`, csrf)).status).toBe(204);
    expect(await sessionStatus(laptop.browser)).toBe(401);
    await waitUntil(async () => (await meStatus(laptop.tokens.access_token as string, b.baseUrl)) === 401, 1000);
    expect((await del(`/account/sessions/${laptopSid}`, csrf)).status).toBe(404);
    expect((await del(`/account/sessions/not-a-uuid`, csrf)).status).toBe(404);

    const grants = (await (await get('/account/grants', phone.browser)).json()) as { id: string; client_id: string; scope: string; created_at: string }[];
    const phoneGrant = (jose.decodeJwt(phone.tokens.access_token as string) as { grant_id: string }).grant_id;
    expect(grants.find((g) => g.id === phoneGrant)).toMatchObject({ client_id: 'rp', scope: 'openid notes:read', created_at: expect.any(String) });
    expect(grants.find((g) => g.id === (jose.decodeJwt(laptop.tokens.access_token as string) as { grant_id: string }).grant_id)).toBeUndefined();
    expect((await del(`/account/grants/${phoneGrant}`, csrf)).status).toBe(204);
    await waitUntil(async () => (await meStatus(phone.tokens.access_token as string, b.baseUrl)) === 401, 1000);
    expect(await sessionStatus(phone.browser)).toBe(200);
    expect((await get('/account/sessions')).status).toBe(401);
  });
});

describe('logout with LOGOUT_REVOKES_OFFLINE_ACCESS=true', () => {
  let t: TestApp;
  let rp: TestClient;
  const redirectUri = 'http://127.0.0.1:7302/callback';

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGOUT_REVOKES_OFFLINE_ACCESS: 'true' } });
    rp = await t.createClient({
      client_id: 'rp',
      first_party: true,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid offline_access',
    });
    await t.createUser({ username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  it('ends offline_access grants of the session too', async () => {
    const { verifier, challenge } = { verifier: 'v'.repeat(43), challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url') };
    const query = new URLSearchParams({
      client_id: 'rp',
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const loginPage = await fetch(`${t.baseUrl}/oauth/authorize?${query}`, { redirect: 'manual' });
    const html = await loginPage.text();
    const login = await fetch(`${t.baseUrl}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `gatehouse_session=${cookieOf(loginPage)}` },
      body: new URLSearchParams({
        csrf_token: hiddenField(html, 'csrf_token')!,
        return_to: hiddenField(html, 'return_to')!,
        username: 'alice',
        password: PASSWORD,
      }),
    });
    const cookie = `gatehouse_session=${cookieOf(login)}`;
    const back = await fetch(`${t.baseUrl}${login.headers.get('location')}`, { redirect: 'manual', headers: { cookie } });
    const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
    const tokens = await obtainToken(t.baseUrl, rp, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const idToken = (tokens as unknown as { id_token: string }).id_token;
    const logout = await fetch(`${t.baseUrl}/oauth/logout?${new URLSearchParams({ id_token_hint: idToken })}`, { headers: { cookie } });
    expect(logout.status).toBe(200);
    expectOAuthError(
      await clientPost(t.baseUrl, '/oauth/token', rp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
      400,
      'invalid_grant',
    );
    await waitUntil(async () => (await api(t.baseUrl, '/api/me', tokens.access_token)).status === 401, 1000);
  });
});
