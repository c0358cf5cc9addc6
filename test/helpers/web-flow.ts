import { createHash, randomBytes } from 'node:crypto';
import { call, Call, Outcome } from './load';

/**
 * The authorization code flow over plain HTTP, as a browser with a one-cookie jar walks
 * it: authorize, the login page, the consent page, back to authorize, the redirect with
 * the code. For specs that need codes and sessions in numbers (no Chromium).
 */

export interface WebBrowser {
  /** The gatehouse_session cookie's value, once the server set one. */
  cookie?: string;
  /** Headers sent with every request (e.g. X-Forwarded-For, as an edge proxy would add). */
  headers?: Record<string, string>;
}

export interface AuthorizeOptions {
  clientId: string;
  redirectUri: string;
  scope: string;
  /** Credentials for the login page, if it appears. */
  username?: string;
  password?: string;
  /** What to do on the consent page, if it appears (default: fail, it was not expected). */
  consent?: 'allow';
}

export interface AuthorizeResult {
  code: string;
  verifier: string;
  /** Which pages were shown on the way: 'login', 'consent'. */
  pages: string[];
  /** nginx's upstream header of the response that carried the code (which instance issued it). */
  upstream: string;
}

/** The text of an HTML attribute value as Gatehouse's pages escape it. */
export const unescapeHtml = (value: string) =>
  value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
/** The value of a page's hidden form field, if it has one. */
export const hiddenField = (html: string, name: string): string | undefined => {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return match ? unescapeHtml(match[1]) : undefined;
};
/** Which Gatehouse page this is (its data-page marker). */
export const dataPage = (html: string) => /data-page="([^"]+)"/.exec(html)?.[1];
const requiredField = (html: string, name: string): string => {
  const value = hiddenField(html, name);
  if (value === undefined) throw new Error(`no ${name} field in ${html.slice(0, 300)}`);
  return value;
};

function remember(browser: WebBrowser, outcome: Outcome): void {
  const cookies = outcome.headers['set-cookie'] ?? [];
  for (const cookie of cookies) {
    const match = /^gatehouse_session=([^;]*)/.exec(cookie);
    if (match) browser.cookie = match[1] || undefined;
  }
}

function headersFor(browser: WebBrowser, extra: Record<string, string> = {}): Record<string, string> {
  return { ...browser.headers, ...(browser.cookie ? { cookie: `gatehouse_session=${browser.cookie}` } : {}), ...extra };
}

/** GET with the browser's cookie; remembers a new one. */
export async function browserGet(baseUrl: string, path: string, browser: WebBrowser, send: Call = call): Promise<Outcome> {
  const outcome = await send('authorize', new URL(path, baseUrl).href, { headers: headersFor(browser) });
  remember(browser, outcome);
  return outcome;
}

/** POSTs a form with the browser's cookie; remembers a new one. */
export async function browserPost(baseUrl: string, path: string, form: Record<string, string>, browser: WebBrowser, send: Call = call): Promise<Outcome> {
  const outcome = await send(path.slice(1), new URL(path, baseUrl).href, {
    method: 'POST',
    headers: headersFor(browser, { 'content-type': 'application/x-www-form-urlencoded' }),
    body: new URLSearchParams(form).toString(),
  });
  remember(browser, outcome);
  return outcome;
}

/** Walks the code flow (PKCE S256) from /oauth/authorize to the redirect carrying the code. */
export async function authorizeCode(baseUrl: string, browser: WebBrowser, options: AuthorizeOptions, send: Call = call): Promise<AuthorizeResult> {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    response_type: 'code',
    scope: options.scope,
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const pages: string[] = [];
  let response = await browserGet(baseUrl, `/oauth/authorize?${query}`, browser, send);
  for (let step = 0; step < 4; step++) {
    if (response.status === 302) {
      const location = new URL(String(response.headers.location));
      const code = location.searchParams.get('code');
      if (!code) throw new Error(`authorization failed: ${location}`);
      return { code, verifier, pages, upstream: response.upstream };
    }
    const html = response.text;
    const page = dataPage(html);
    if (response.status !== 200 || (page !== 'login' && page !== 'consent'))
      throw new Error(`unexpected answer ${response.status} (${page}): ${html.slice(0, 300)}`);
    pages.push(page);
    const fields = { csrf_token: requiredField(html, 'csrf_token'), return_to: requiredField(html, 'return_to') };
    if (page === 'login') {
      if (options.username === undefined) throw new Error('the login page appeared, but no credentials were given');
      response = await browserPost(baseUrl, '/login', { ...fields, username: options.username, password: options.password ?? '' }, browser, send);
    } else {
      if (options.consent !== 'allow') throw new Error('the consent page appeared unexpectedly');
      response = await browserPost(baseUrl, '/consent', { ...fields, decision: 'allow' }, browser, send);
    }
    if (response.status !== 303) throw new Error(`${page} answered ${response.status}: ${response.text.slice(0, 300)}`);
    response = await browserGet(baseUrl, String(response.headers.location), browser, send);
  }
  throw new Error(`authorization did not finish; pages: ${pages.join(', ')}`);
}
