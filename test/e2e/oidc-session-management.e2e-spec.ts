import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeThrough, authorizeUrl, CallbackServer, interceptRedirects, launchBrowser, startCallbackServer, TestBrowser } from '../helpers/browser';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/** OpenID Connect Session Management 1.0: session_state and the check_session_iframe, in Chromium. */
describe('OpenID Connect Session Management (oidcc-session-management)', () => {
  let gatehouse: TestApp;
  let browser: TestBrowser;
  let rp: CallbackServer;
  let client: TestClient;

  beforeAll(async () => {
    gatehouse = await startTestApp({ env: { LOGIN_RATE_LIMIT: '10000' } });
    [browser, rp] = await Promise.all([launchBrowser(), startCallbackServer()]);
    client = await gatehouse.createClient({ redirect_uris: [rp.redirectUri], grant_types: ['authorization_code'], scope: 'openid', first_party: true });
    await gatehouse.createUser({ username: 'sam', password: 'sam-password-1' });
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await gatehouse?.close();
  });

  /** Frames the OP iframe from the relying party's page and asks it about `sessionState` (the script runs in the page). */
  const ask = (page: import('playwright-core').Page, sessionState: string): Promise<string> =>
    page.evaluate(`new Promise((resolve) => {
      const target = ${JSON.stringify(gatehouse.baseUrl)};
      const frame = document.createElement('iframe');
      frame.src = target + '/oauth/check-session';
      window.addEventListener('message', (event) => { if (event.origin === target) resolve(String(event.data)); });
      frame.onload = () => frame.contentWindow.postMessage(${JSON.stringify(`${client.client_id} ${sessionState}`)}, target);
      document.body.appendChild(frame);
    })`);

  it('advertises check_session_iframe and returns session_state with every OpenID authorization response', async () => {
    const discovery = (await (await fetch(`${gatehouse.baseUrl}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(discovery.check_session_iframe).toBe(`${gatehouse.config.issuer}/oauth/check-session`);
    const context = await browser.browser.newContext();
    const page = await context.newPage();
    const redirects = interceptRedirects(page, rp);
    const verifier = randomBytes(32).toString('base64url');
    const url = authorizeUrl(gatehouse.baseUrl, {
      client_id: client.client_id,
      redirect_uri: rp.redirectUri,
      response_type: 'code',
      scope: 'openid',
      state: 's',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const callback = await authorizeThrough(page, url, redirects, { username: 'sam', password: 'sam-password-1' });
    const sessionState = callback.params.get('session_state');
    expect(sessionState).toMatch(/^[\w-]{43}\.[0-9a-f]{16}$/);

    expect(await ask(page, sessionState!)).toBe('unchanged');
    // Another salt digit (always different from the one it replaces) makes the value another session's.
    const tampered = `${sessionState!.slice(0, -1)}${sessionState!.endsWith('0') ? '1' : '0'}`;
    expect(await ask(page, tampered)).toBe('changed');
    expect(await ask(page, 'no-salt')).toBe('error');

    // Signing out at the OP changes the browser state: the RP's next check says "changed".
    const account = await context.request.get(`${gatehouse.baseUrl}/account/session`);
    const { csrf_token } = (await account.json()) as { csrf_token: string };
    await context.request.post(`${gatehouse.baseUrl}/logout`, { form: { csrf_token } });
    expect(await ask(page, sessionState!)).toBe('changed');
    await context.close();
  });

  it('serves the iframe so that relying parties can frame it, with a nonce-only script policy', async () => {
    const response = await fetch(`${gatehouse.baseUrl}/oauth/check-session`);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'nonce-[^']+'/);
    expect(csp).not.toContain('frame-ancestors');
    expect(response.headers.get('x-frame-options')).toBeNull();
  });
});
