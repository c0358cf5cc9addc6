import { expect } from 'vitest';
import type { TestClient } from './test-app';

/** A parsed HTTP response: status, headers, raw text and (when JSON) the body. */
export interface HttpResult<T = JsonBody> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** A JSON object as the server sends it; fields are read with the type the test expects. */
export type JsonBody = Record<string, unknown>;

/** RFC 6749 §5.1 successful token response. */
export interface TokenSet {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded, then Basic-encoded. */
export function basic(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** The Basic header for a registered confidential client. */
export function basicFor(client: TestClient): string {
  return basic(client.client_id, client.client_secret!);
}

async function toResult<T>(response: Response): Promise<HttpResult<T>> {
  const text = await response.text();
  let body: unknown = undefined;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') body = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, body: body as T };
}

export type FormInput = Record<string, string | string[] | undefined> | string;

/** Encodes form parameters; arrays repeat the parameter, undefined leaves it out. */
export function formBody(params: FormInput): string {
  if (typeof params === 'string') return params;
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) form.append(name, item);
  }
  return form.toString();
}

/** POSTs an application/x-www-form-urlencoded body. */
export async function postForm<T = JsonBody>(url: string, params: FormInput, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: formBody(params),
  });
  return toResult<T>(response);
}

export async function request<T = JsonBody>(url: string, init: RequestInit = {}): Promise<HttpResult<T>> {
  return toResult<T>(await fetch(url, init));
}

/** Calls the resource API with a bearer token. */
export async function api<T = JsonBody>(
  baseUrl: string,
  path: string,
  token: string | undefined,
  init: RequestInit & { json?: unknown } = {},
): Promise<HttpResult<T>> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return request<T>(`${baseUrl}${path}`, { ...init, headers, body });
}

/** Client authentication as the client registered it: Basic header, post parameters, or client_id alone. */
export function clientAuth(
  client: TestClient,
  method: 'basic' | 'post' | 'none' = 'basic',
): { headers: Record<string, string>; params: Record<string, string> } {
  if (method === 'basic') return { headers: { authorization: basicFor(client) }, params: {} };
  if (method === 'post') return { headers: {}, params: { client_id: client.client_id, client_secret: client.client_secret! } };
  return { headers: {}, params: { client_id: client.client_id } };
}

/** POST /oauth/token (or /oauth/revoke, /oauth/introspect) authenticated as `client`. */
export function clientPost<T = JsonBody>(
  baseUrl: string,
  path: '/oauth/token' | '/oauth/revoke' | '/oauth/introspect',
  client: TestClient,
  params: Record<string, string | undefined>,
  method: 'basic' | 'post' | 'none' = client.client_secret ? 'basic' : 'none',
): Promise<HttpResult<T>> {
  const auth = clientAuth(client, method);
  return postForm<T>(`${baseUrl}${path}`, { ...params, ...auth.params }, auth.headers);
}

/** A token request that must succeed; returns the token response. */
export async function obtainToken(baseUrl: string, client: TestClient, params: Record<string, string | undefined>): Promise<TokenSet> {
  const result = await clientPost<TokenSet & JsonBody>(baseUrl, '/oauth/token', client, params);
  expect(result.status, result.text).toBe(200);
  return result.body;
}

/**
 * Asserts an RFC 6749 §5.2 / RFC 6750 §3 error response: the status, JSON, no caching,
 * and a body of exactly `error` and `error_description` (a string) — never HTML, never a stack.
 */
export function expectOAuthError(result: HttpResult<unknown>, status: number, error: string): void {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get('content-type')).toMatch(/^application\/json/);
  expect(result.headers.get('cache-control')).toBe('no-store');
  const body = result.body as JsonBody;
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  // RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
  expect(body.error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the elapsed milliseconds. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The payload of a compact JWS, unverified (for tests that then check it properly). */
export function jwtPayload(token: string): JsonBody {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as JsonBody;
}

export function jwtHeader(token: string): JsonBody {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as JsonBody;
}

/**
 * Signs in through the login form of GET /login (a sign-in without an application), as a
 * browser would: the page's session cookie and CSRF token, then the form. 200 is the
 * signed-in page, 401 the login page again, 429 the throttling page.
 */
export async function postLoginForm(baseUrl: string, username: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  const page = await fetch(`${baseUrl}/login`, { headers });
  const cookie = /gatehouse_session=([^;]*)/.exec(page.headers.get('set-cookie') ?? '')![1];
  const csrfToken = /name="csrf_token" value="([^"]*)"/.exec(await page.text())![1];
  return fetch(`${baseUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', cookie: `gatehouse_session=${cookie}` },
    body: new URLSearchParams({ csrf_token: csrfToken, return_to: '', username, password }),
  });
}
