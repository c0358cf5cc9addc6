import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestClient } from './test-app';

/**
 * A browser over plain HTTP for the authorization endpoint's pages: one session cookie,
 * manual redirects, the login and consent forms filled from their hidden fields. For
 * specs that need a signed-in user but no real browser (the Chromium ones use browser.ts).
 */
export class HttpBrowser {
  cookie: string | undefined;

  constructor(
    private readonly baseUrl: string,
    /** Extra headers on every request (e.g. X-Forwarded-For behind TRUST_PROXY). */
    private readonly headers: Record<string, string> = {},
  ) {}

  private url(path: string): string {
    return path.startsWith('http') ? path : `${this.baseUrl}${path}`;
  }

  private keepCookie(response: Response): Response {
    const cookie = /gatehouse_session=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
    if (cookie !== undefined) this.cookie = cookie || undefined;
    return response;
  }

  private cookieHeader(): Record<string, string> {
    return this.cookie ? { cookie: `gatehouse_session=${this.cookie}` } : {};
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.keepCookie(await fetch(this.url(path), { redirect: 'manual', headers: { ...this.headers, ...this.cookieHeader(), ...headers } }));
  }

  async post(path: string, form: Record<string, string>): Promise<Response> {
    return this.keepCookie(
      await fetch(this.url(path), {
        method: 'POST',
        redirect: 'manual',
        headers: { ...this.headers, ...this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      }),
    );
  }

  async delete(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(this.url(path), { method: 'DELETE', headers: { ...this.headers, ...this.cookieHeader(), ...headers } });
  }

  /** The CSRF token of the signed-in session (GET /account/session). */
  async csrfToken(): Promise<string> {
    const response = await this.get('/account/session');
    expect(response.status).toBe(200);
    return ((await response.json()) as { csrf_token: string }).csrf_token;
  }

  /**
   * Runs the code flow with PKCE (or, with `responseType: 'token'`, the implicit grant) for
   * `client` through the login page (when not signed in) and the consent page (when shown,
   * answered with `consent`); returns the code and its verifier, or the error the redirect
   * carried, and the parameters of the fragment.
   */
  async authorize(
    client: TestClient,
    options: { redirectUri: string; scope: string; username: string; password: string; consent?: 'allow' | 'deny'; responseType?: 'code' | 'token' },
  ): Promise<{ code?: string; error?: string; verifier: string; fragment: URLSearchParams }> {
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: options.redirectUri,
      response_type: options.responseType ?? 'code',
      scope: options.scope,
      state: 'st',
    });
    if (query.get('response_type') === 'code') {
      query.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
      query.set('code_challenge_method', 'S256');
    }
    let response = await this.get(`/oauth/authorize?${query}`);
    for (let step = 0; step < 4 && response.status !== 302; step++) {
      expect(response.status, `an authorization step answered ${response.status}`).toBeLessThan(400);
      if (response.status === 303) {
        response = await this.get(response.headers.get('location')!);
        continue;
      }
      const html = await response.text();
      const page = /data-page="([^"]+)"/.exec(html)?.[1];
      const fields = { csrf_token: hiddenField(html, 'csrf_token'), return_to: hiddenField(html, 'return_to') };
      if (page === 'login') response = await this.post('/login', { ...fields, username: options.username, password: options.password });
      else if (page === 'consent') response = await this.post('/consent', { ...fields, decision: options.consent ?? 'allow' });
      else throw new Error(`unexpected page ${page}`);
    }
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
    return {
      code: location.searchParams.get('code') ?? undefined,
      error: location.searchParams.get('error') ?? fragment.get('error') ?? undefined,
      verifier,
      fragment,
    };
  }
}

/** The value of a hidden input of a Gatehouse page, unescaped. */
export function hiddenField(html: string, name: string): string {
  const value = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
  if (value === undefined) throw new Error(`no hidden field ${name}`);
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
