import { startTestApp, TestApp } from './test-app';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Browser, BrowserContext, chromium, Page, Response } from 'playwright-core';
import { expect } from 'vitest';
import { recordSecret, recordSecretParams, recordSecretsInBody } from './test-run';

/**
 * Browser end-to-end helpers: Debian's Chromium (never a downloaded browser) driven by
 * playwright-core, plus a tiny relying-party callback server.
 *
 * Why a real callback server rather than `page.route(redirectUri + '**')`: Playwright only
 * calls a route handler for the first URL of a request chain ("The handler will only be
 * called for the first url if the response is a redirect"), so the 303 from
 * /oauth/authorize to the redirect_uri bypasses routing and the browser would try to
 * connect for real. The callback server below is that "real" endpoint: it records every
 * request (method, URL, form body) and answers with a tiny page, so the browser ends up on
 * the redirect_uri exactly as it would in production (fragment included).
 */

/** Cookies and storage of a context, to start another context logged in. */
export type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** One Chromium per spec file; a fresh context (cookies, storage) per test via `newPage`. */
export interface TestBrowser {
  browser: Browser;
  /** A page in a new, isolated context: no cookies, or those of `storageState` (see BrowserContext.storageState()). */
  newPage(options?: { storageState?: StorageState }): Promise<Page>;
  /** Closes every context opened by newPage (call it in afterEach). */
  closeContexts(): Promise<void>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  // Playwright gives the browser a temporary profile of its own and removes it on close.
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(options = {}) {
      const context = await browser.newContext({ acceptDownloads: false, storageState: options.storageState });
      context.setDefaultTimeout(10_000);
      context.setDefaultNavigationTimeout(10_000);
      contexts.push(context);
      return context.newPage();
    },
    async closeContexts() {
      await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)));
    },
    async close() {
      await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)));
      await browser.close().catch(() => undefined);
    },
  };
}

// --- The relying party's side: a callback server -------------------------------------------

/** One request the callback server received. */
export interface RecordedRequest {
  seq: number;
  method: string;
  /** Absolute URL as received (no fragment: browsers never send it). */
  url: URL;
  headers: IncomingMessage['headers'];
  /** Raw body (form_post). */
  body: string;
}

export interface CallbackServer {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** The redirect_uri to register: `${origin}/callback`. */
  redirectUri: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Requests whose path starts with `path`. */
  requestsTo(path: string): RecordedRequest[];
  close(): Promise<void>;
}

const CALLBACK_PAGE = (seq: number) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>Relying party</title></head><body data-callback="${seq}"><p>callback ${seq}</p></body></html>`;

/**
 * Starts the relying party: every path answers 200 with a tiny HTML page marked
 * `data-callback="<seq>"`, so a test knows which response the browser is showing.
 */
export async function startCallbackServer(): Promise<CallbackServer> {
  const requests: RecordedRequest[] = [];
  let origin = '';
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/favicon.ico') {
        res.writeHead(404).end();
        return;
      }
      const seq = requests.length + 1;
      const recorded = {
        seq,
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', origin),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      // What the browser brought back (codes, form_post tokens) is a secret for the log scan.
      recordSecretParams(recorded.url.searchParams);
      recordSecretsInBody(recorded.body, req.headers['content-type'] ?? null);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(CALLBACK_PAGE(seq));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    redirectUri: `${origin}/callback`,
    requests,
    requestsTo: (path) => requests.filter((request) => request.url.pathname.startsWith(path)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What arrived at the redirect_uri, as the client sees it. */
export interface Callback {
  method: string;
  /** The URL the browser shows, fragment included. */
  url: URL;
  query: URLSearchParams;
  fragment: URLSearchParams;
  /** The POSTed form (response_mode=form_post), else undefined. */
  form: URLSearchParams | undefined;
  /** The response parameters wherever they were: form, else fragment when non-empty, else query. */
  params: URLSearchParams;
  request: RecordedRequest;
  /** A fetch Request equivalent to what the browser sent (for openid-client's authorizationCodeGrant). */
  toRequest(): Request;
}

export interface RedirectInterceptor {
  /** Waits until the page shows a new response from the redirect_uri, and returns it. */
  next(timeoutMs?: number): Promise<Callback>;
  /** Every request the browser sent to the redirect URI (path) since interception started. */
  readonly received: RecordedRequest[];
}

/**
 * Watches the page arrive at `redirectUri` (served by `server`). Only requests made after
 * this call count. Named after the brief; see the module comment for why this is a server.
 */
export function interceptRedirects(page: Page, server: CallbackServer, redirectUri: string = server.redirectUri): RedirectInterceptor {
  const path = new URL(redirectUri).pathname;
  const start = server.requests.length;
  let consumed = start;
  const received = () => server.requests.slice(start).filter((request) => request.url.pathname === path);
  return {
    get received() {
      return received();
    },
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let request: RecordedRequest | undefined;
      for (;;) {
        request = server.requests.slice(consumed).find((candidate) => candidate.url.pathname === path);
        if (request) break;
        if (Date.now() > deadline) {
          throw new Error(`the browser did not reach ${redirectUri} within ${timeoutMs} ms; it shows ${page.url()}:\n${await describePage(page)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      consumed = request.seq;
      await page.waitForSelector(`body[data-callback="${request.seq}"]`, { state: 'attached', timeout: Math.max(1000, deadline - Date.now()) });
      const url = new URL(page.url());
      const query = new URLSearchParams(url.search);
      const fragment = new URLSearchParams(url.hash.replace(/^#/, ''));
      const form = request.method === 'POST' ? new URLSearchParams(request.body) : undefined;
      const params = form ?? ([...fragment.keys()].length > 0 ? fragment : query);
      recordSecretParams(fragment);
      const seen = request;
      return {
        method: request.method,
        url,
        query,
        fragment,
        form,
        params,
        request,
        toRequest: () =>
          seen.method === 'POST'
            ? new Request(seen.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: seen.body })
            : new Request(url.href.replace(/#.*$/, '')),
      };
    },
  };
}

// --- The authorization server's pages ---------------------------------------------------------

export type PageKind = 'login' | 'consent' | 'error' | 'logged-out' | 'callback' | 'other';

/** Which Gatehouse page (per the HTML contract) the browser shows. */
export async function pageKind(page: Page): Promise<PageKind> {
  if ((await page.locator('body[data-callback]').count()) > 0) return 'callback';
  if ((await page.locator('form[action="/login"]').count()) > 0) return 'login';
  if ((await page.locator('form[action="/consent"]').count()) > 0) return 'consent';
  if ((await page.locator('main[data-error]').count()) > 0) return 'error';
  if ((await page.locator('main[data-page="logged-out"]').count()) > 0) return 'logged-out';
  return 'other';
}

/** A short description of the page for assertion messages. */
export async function describePage(page: Page): Promise<string> {
  try {
    const text = await page.locator('body').innerText({ timeout: 1000 });
    return `[${page.url()}] ${text.replace(/\s+/g, ' ').slice(0, 400)}`;
  } catch (error) {
    return `[${page.url()}] (unreadable: ${(error as Error).message})`;
  }
}

export async function expectPage(page: Page, kind: PageKind): Promise<void> {
  expect(await pageKind(page), await describePage(page)).toBe(kind);
}

/** Clicks and waits for the navigation the click starts; returns its main response. */
export async function clickAndWait(page: Page, selector: string): Promise<Response | null> {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  return response;
}

/** Fills and submits the login page (the page must show it); returns the response to the POST chain. */
export async function submitLogin(page: Page, username: string, password: string): Promise<Response | null> {
  recordSecret('password', password);
  await expectPage(page, 'login');
  await page.fill('#username', username);
  await page.fill('#password', password);
  return clickAndWait(page, 'form[action="/login"] button[type="submit"]');
}

/** Clicks Allow or Deny on the consent page. */
export async function submitConsent(page: Page, decision: 'allow' | 'deny'): Promise<Response | null> {
  await expectPage(page, 'consent');
  return clickAndWait(page, `form[action="/consent"] button[name="decision"][value="${decision}"]`);
}

export interface LoginAndConsentOptions {
  username: string;
  password: string;
  /** What to do on the consent page: allow (default), deny, or 'none' = assert it does not appear. */
  consent?: 'allow' | 'deny' | 'none';
}

/**
 * From the login page, signs in and answers the consent page (if it appears), then returns
 * what reached the redirect_uri.
 */
export async function loginAndConsent(page: Page, redirects: RedirectInterceptor, options: LoginAndConsentOptions): Promise<Callback> {
  await submitLogin(page, options.username, options.password);
  const kind = await pageKind(page);
  if (options.consent === 'none') {
    expect(kind, `no consent page expected: ${await describePage(page)}`).not.toBe('consent');
  } else if (kind === 'consent') {
    await submitConsent(page, options.consent ?? 'allow');
  } else {
    expect(kind, `a consent page was expected: ${await describePage(page)}`).toBe('consent');
  }
  return redirects.next();
}

/** /oauth/authorize URL from parameters (undefined values are left out). */
export function authorizeUrl(issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL('/oauth/authorize', issuer);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url.href;
}

/** The hidden inputs and visible bits of the current login or consent form. */
export async function formFields(page: Page, action: '/login' | '/consent' | '/logout'): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const input of await page.locator(`form[action="${action}"] input[type="hidden"]`).all()) {
    const name = await input.getAttribute('name');
    if (name) fields[name] = await input.inputValue();
  }
  return fields;
}

/** Sets (or, with undefined, removes) the hidden csrf_token of a form on the page. */
export async function tamperCsrfToken(page: Page, action: '/login' | '/consent' | '/logout', value: string | undefined): Promise<void> {
  // (Element callbacks run in the page; tsconfig has no DOM lib, so they stay untyped.)
  await page.locator(`form[action="${action}"]`).evaluate((form, token) => {
    const input = form.querySelector('input[name="csrf_token"]');
    if (token === null) input?.remove();
    else if (input) input.value = token;
    else {
      const created = form.ownerDocument.createElement('input');
      created.type = 'hidden';
      created.name = 'csrf_token';
      created.value = token;
      form.appendChild(created);
    }
  }, value ?? null);
}

/** The session as GET /account/session reports it, through the page's cookies. */
export async function accountSession(page: Page, issuer: string): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const response = await page.context().request.get(`${issuer}/account/session`, { failOnStatusCode: false });
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: response.status(), body };
}

const escapeHtml = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Submits a real HTML form (POST, form-encoded) from a page of `fromUrl`'s origin: loads
 * that page, replaces its content with the form and clicks its button, as a user on that
 * page would (e.g. a logout button on an account page, or an attacker's page).
 */
export async function postFormFrom(page: Page, fromUrl: string, action: string, fields: Record<string, string>): Promise<Response | null> {
  await page.goto(fromUrl);
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  // setContent keeps the document (and so the origin) of fromUrl.
  await page.setContent(`<form method="post" action="${escapeHtml(action)}">${inputs}<button type="submit" id="gatehouse-test-submit">Go</button></form>`);
  return clickAndWait(page, '#gatehouse-test-submit');
}

/**
 * Drives the browser from `url` through whatever Gatehouse shows (login, consent) until
 * the redirect_uri is reached, and returns what arrived there.
 */
export async function authorizeThrough(
  page: Page,
  url: string,
  redirects: RedirectInterceptor,
  options: { username: string; password: string; consent?: 'allow' | 'deny' },
): Promise<Callback> {
  await page.goto(url);
  for (let step = 0; step < 5; step++) {
    const kind = await pageKind(page).catch((): PageKind => 'other');
    if (kind === 'login') await submitLogin(page, options.username, options.password);
    else if (kind === 'consent') await submitConsent(page, options.consent ?? 'allow');
    else if (kind === 'error' || kind === 'logged-out') throw new Error(`unexpected page: ${await describePage(page)}`);
    else return redirects.next(); // the callback, or a form_post page on its way there
  }
  throw new Error(`authorization did not finish: ${await describePage(page)}`);
}

/** Reads the security headers of a Gatehouse HTML response and asserts the contract. */
export async function expectSecurityHeaders(response: Response | null, what: string): Promise<void> {
  expect(response, `${what}: no response`).not.toBeNull();
  const headers = await response!.allHeaders();
  expect(headers['content-type'], what).toMatch(/^text\/html/);
  expect(headers['content-security-policy'], `${what}: Content-Security-Policy`).toMatch(/frame-ancestors 'none'/);
  expect(headers['referrer-policy'], `${what}: Referrer-Policy`).toBe('no-referrer');
  expect(headers['cache-control'], `${what}: Cache-Control`).toMatch(/(^|,\s*)no-store(\s*,|$)/);
  expect(headers['x-content-type-options'], `${what}: X-Content-Type-Options`).toBe('nosniff');
}

/** What every browser spec starts with: Gatehouse, Chromium, and the relying party's callback server. */
export interface BrowserStage {
  gatehouse: TestApp;
  browser: TestBrowser;
  rp: CallbackServer;
  close(): Promise<void>;
}

/**
 * Starts the three in parallel (login throttling relaxed, since the specs sign in often).
 * If one fails to start, the others are closed before the error is thrown.
 */
export async function startBrowserStage(env: Record<string, string> = {}): Promise<BrowserStage> {
  const started = await Promise.allSettled([startTestApp({ env: { LOGIN_RATE_LIMIT: '10000', ...env } }), launchBrowser(), startCallbackServer()] as const);
  const close = () => Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined))).then(() => undefined);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  const [gatehouse, browser, rp] = started.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [TestApp, TestBrowser, CallbackServer];
  return { gatehouse, browser, rp, close };
}
