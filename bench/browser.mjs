// A browser, as far as the benchmark needs one: cookies, and the HTML forms of a server's
// sign-in and consent pages, to sign in over HTTP the way a person would before a scenario
// measures what a signed-in browser does.
import { createHash, randomBytes } from 'node:crypto';
import { basicAuth } from './lib.mjs';

const FORM = 'application/x-www-form-urlencoded';

/** Cookies by name, from Set-Cookie headers (path and expiry ignored: one site, one run). */
export class CookieJar {
  cookies = new Map();
  /** How many times a login form was submitted with this jar. */
  signIns = 0;
  update(response) {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(cookie) || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  /** The Cookie header of `names` (default: every cookie); fails when one is missing. */
  header(names = [...this.cookies.keys()]) {
    const missing = names.filter((name) => !this.cookies.has(name));
    if (missing.length) throw new Error(`no ${missing.join(', ')} cookie`);
    return names.map((name) => `${name}=${this.cookies.get(name)}`).join('; ');
  }
}

const decode = (value) => {
  const entities = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return value.replace(/&(amp|lt|gt|quot|#39|#\d+);/g, (_, entity) => entities[entity] ?? String.fromCharCode(Number(entity.slice(1))));
};
const attribute = (tag, name) => {
  const match = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
  return match ? decode(match[1]) : undefined;
};

/**
 * The first POST form of a page: its action, its hidden fields plus the name/value of its
 * first submit button that has one, and the names of its visible inputs.
 */
export function parseForm(html) {
  const match = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return null;
  const action = attribute(match[0].slice(0, match[0].indexOf('>') + 1), 'action') ?? '';
  const fields = new URLSearchParams();
  const inputs = [];
  for (const [tag] of match[1].matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(tag, 'name');
    if (!name) continue;
    if (attribute(tag, 'type') === 'hidden') fields.append(name, attribute(tag, 'value') ?? '');
    else inputs.push(name);
  }
  const button = /<button\b[^>]*\bname="[^"]*"[^>]*>/i.exec(match[1]);
  if (button) fields.append(attribute(button[0], 'name'), attribute(button[0], 'value') ?? '');
  return { action, fields, inputs };
}

/**
 * Follows an authorization request through the server's pages, as a browser would: redirects
 * are followed (with the jar's cookies), a page's form is submitted (the login form with
 * `username` and `password`, a consent form as it comes), until the server redirects to
 * `redirectUri`. Returns that Location (with the code); the jar then holds the session.
 */
export async function authorizeInBrowser(authorizeUrl, { redirectUri, username, password, jar = new CookieJar(), maxSteps = 12 }) {
  let url = authorizeUrl;
  let init = { method: 'GET' };
  const trail = [];
  for (let step = 0; step < maxSteps; step++) {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header() } });
    jar.update(response);
    const text = await response.text();
    trail.push(`${init.method} ${new URL(url).pathname} -> ${response.status}`);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url).toString();
      if (next.startsWith(`${redirectUri}?`)) {
        if (new URL(next).searchParams.has('error')) throw new Error(`sign-in: redirected with ${next.slice(redirectUri.length)} (${trail.join(', ')})`);
        return next;
      }
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const form = response.status === 200 ? parseForm(text) : null;
    if (!form) throw new Error(`sign-in: expected a redirect or a page with a form, got ${response.status} ${text.slice(0, 300)} (${trail.join(', ')})`);
    const body = new URLSearchParams(form.fields);
    if (form.inputs.includes('password')) {
      if (username === undefined) throw new Error(`sign-in: the server shows a login page (${trail.join(', ')})`);
      body.set('username', username);
      body.set('password', password);
      jar.signIns++;
    }
    url = new URL(form.action, url).toString();
    init = { method: 'POST', headers: { 'content-type': FORM }, body };
  }
  throw new Error(`sign-in: no redirect to ${redirectUri} after ${maxSteps} steps (${trail.join(', ')})`);
}

/** A PKCE pair (S256). */
export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The query of an authorization request for the code flow with PKCE S256. */
export function codeRequest({ client, redirectUri, scope, state, challenge }) {
  return new URLSearchParams({
    response_type: 'code',
    client_id: client.id,
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope,
  });
}

/**
 * Refresh tokens from the code flow of a browser (its cookies in `jar`; it signs in as `user`
 * when the server asks): `count` times the authorization request with `extra` parameters (e.g.
 * prompt=consent), through whatever pages the server shows, then the code at the token endpoint.
 */
export async function refreshTokensFromCodes(baseUrl, { authorizePath, tokenPath, client, redirectUri, scope, jar, user, extra = {} }, count) {
  const tokens = [];
  for (let index = 0; index < count; index++) {
    const { verifier, challenge } = pkce();
    const query = codeRequest({ client, redirectUri, scope, state: `seed-${index}`, challenge });
    for (const [name, value] of Object.entries(extra)) query.set(name, value);
    const location = await authorizeInBrowser(new URL(`${authorizePath}?${query}`, baseUrl).toString(), { redirectUri, jar, ...user });
    const response = await fetch(new URL(tokenPath, baseUrl), {
      method: 'POST',
      headers: { authorization: basicAuth(client.id, client.secret), 'content-type': FORM },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: new URL(location).searchParams.get('code'),
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    const json = await response.json().catch(() => null);
    if (!response.ok || typeof json?.refresh_token !== 'string') throw new Error(`code redemption answered ${response.status} ${JSON.stringify(json)}`);
    tokens.push(json.refresh_token);
  }
  return tokens;
}
