// Notes Web: a sample web application that signs users in with Gatehouse and calls the
// sample notes API on their behalf. Plain Node.js (node:http) plus openid-client v6.
//
// The flow (OAuth 2.0 authorization code grant with PKCE, RFC 6749 + RFC 7636 + RFC 9207):
//   GET /login     -> remember a PKCE verifier and a state in the server-side session,
//                     redirect the browser to Gatehouse's authorization endpoint
//   GET /callback  -> Gatehouse redirects back with ?code&state&iss; exchange the code
//                     (with the verifier) for tokens, keep them in the session
//   GET /          -> call the API with the access token, refreshing it when it expires
//   POST /logout   -> revoke the refresh token at Gatehouse, forget the session
//
// Tokens never reach the browser: it only holds an opaque session id in an HttpOnly cookie.

/* global Headers -- a Node.js global (declared for the repository's ESLint configuration) */
import { createServer } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';

// --- Configuration (environment variables) ------------------------------------------------
const ISSUER = new URL(process.env.GATEHOUSE_ISSUER ?? 'http://localhost:3000');
const CLIENT_ID = process.env.CLIENT_ID;
const CLIENT_SECRET = process.env.CLIENT_SECRET;
const PORT = Number(process.env.PORT ?? 4000);
// Must be exactly one of the client's registered redirect_uris.
const REDIRECT_URI = new URL(process.env.REDIRECT_URI ?? `http://localhost:${PORT}/callback`);
const API_URL = (process.env.API_URL ?? `${ISSUER.href.replace(/\/$/, '')}/api`).replace(/\/$/, '');
const SCOPE = 'notes:read notes:write';

if (!CLIENT_ID || !CLIENT_SECRET) {
  console.error('CLIENT_ID and CLIENT_SECRET must be set (create the client with the Gatehouse CLI, see README.md)');
  process.exit(1);
}

// --- Gatehouse client configuration, discovered lazily (Gatehouse may start after us) -------
// Gatehouse publishes RFC 8414 metadata at /.well-known/oauth-authorization-server, hence
// algorithm 'oauth2'. Once it serves OpenID Connect discovery, 'oidc' works as well.
// Plain http is refused by openid-client unless allowed: only for a local issuer.
let discovered;
function gatehouse() {
  discovered ??= client
    .discovery(ISSUER, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic(), {
      algorithm: 'oauth2',
      ...(ISSUER.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
    })
    .catch((error) => {
      discovered = undefined; // try again on the next request
      throw new Error(`Cannot read Gatehouse's metadata at ${ISSUER.href}: ${error.message}`, { cause: error });
    });
  return discovered;
}

// --- Sessions: an in-memory Map keyed by a random id in an HttpOnly cookie ------------------
// Fine for one process. In production keep sessions in a shared store (Redis, a database)
// and encrypt the tokens at rest. Cookies are not isolated by port, so the name must not
// clash with Gatehouse's own cookies when both run on localhost.
const COOKIE = 'notes_sid';
const COOKIE_FLAGS = `Path=/; HttpOnly; SameSite=Lax${REDIRECT_URI.protocol === 'https:' ? '; Secure' : ''}`;
const IDLE_TIMEOUT_MS = 8 * 60 * 60 * 1000;
const LOGIN_TIMEOUT_MS = 10 * 60 * 1000;
const sessions = new Map();

const randomId = () => randomBytes(32).toString('base64url');

function startSession(res) {
  const session = { id: randomId(), csrf: randomId(), lastSeen: Date.now() };
  sessions.set(session.id, session);
  res.setHeader('Set-Cookie', `${COOKIE}=${session.id}; ${COOKIE_FLAGS}`);
  return session;
}

function findSession(req) {
  const id = (req.headers.cookie ?? '')
    .split(';')
    .map((part) => part.trim().split('='))
    .find(([name]) => name === COOKIE)?.[1];
  const session = id && sessions.get(id);
  if (!session || Date.now() - session.lastSeen > IDLE_TIMEOUT_MS) return undefined;
  session.lastSeen = Date.now();
  return session;
}

function endSession(res, session) {
  if (session) sessions.delete(session.id);
  res.setHeader('Set-Cookie', `${COOKIE}=; Max-Age=0; ${COOKIE_FLAGS}`);
}

setInterval(() => {
  for (const [id, session] of sessions) if (Date.now() - session.lastSeen > IDLE_TIMEOUT_MS) sessions.delete(id);
}, 60_000).unref();

// Our own forms carry the session's CSRF token in a hidden field (SameSite=Lax alone is not enough).
function csrfOk(session, value) {
  const expected = Buffer.from(session?.csrf ?? '');
  const given = Buffer.from(String(value ?? ''));
  return expected.length > 0 && expected.length === given.length && timingSafeEqual(expected, given);
}

// --- Tokens ----------------------------------------------------------------------------------
class SignedOutError extends Error {}

function keepTokens(response, previous) {
  return {
    accessToken: response.access_token,
    // Gatehouse rotates refresh tokens: every refresh returns a new one, the old one is spent.
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    expiresAt: Date.now() + (response.expiresIn() ?? 60) * 1000,
  };
}

// A valid access token for the session, refreshed when it has expired (or is about to).
async function accessToken(session) {
  if (!session.tokens) throw new SignedOutError('you have not signed in yet');
  if (Date.now() < session.tokens.expiresAt - 10_000) return session.tokens.accessToken;
  if (!session.tokens.refreshToken) throw signOut(session, 'your access has expired');
  // One refresh at a time per session: refresh tokens are single use, and presenting a spent
  // one again (two parallel requests refreshing at once) is treated by Gatehouse as token
  // theft (RFC 9700 §4.14): it revokes the whole grant.
  session.refreshing ??= refresh(session).finally(() => (session.refreshing = undefined));
  await session.refreshing;
  return session.tokens.accessToken;
}

async function refresh(session) {
  try {
    const response = await client.refreshTokenGrant(await gatehouse(), session.tokens.refreshToken);
    session.tokens = keepTokens(response, session.tokens);
  } catch (error) {
    // invalid_grant: the grant was revoked, the user disabled, or the refresh token expired.
    if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') throw signOut(session, 'Gatehouse ended your access');
    throw error;
  }
}

function signOut(session, reason) {
  session.tokens = undefined;
  return new SignedOutError(reason);
}

// Calls the notes API with the session's access token. A 401 means the token was rejected
// (expired early, or revoked): refresh once and retry, else the user must sign in again.
async function api(session, method, path, body) {
  const config = await gatehouse();
  const headers = new Headers({ accept: 'application/json' });
  if (body !== undefined) headers.set('content-type', 'application/json');
  for (let attempt = 1; ; attempt++) {
    const token = await accessToken(session);
    try {
      const url = new URL(`${API_URL}${path}`);
      const response = await client.fetchProtectedResource(config, token, url, method, body === undefined ? undefined : JSON.stringify(body), headers);
      if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
      return response.status === 204 ? null : await response.json();
    } catch (error) {
      // openid-client throws WWWAuthenticateChallengeError for 401/403 with WWW-Authenticate.
      if (!(error instanceof client.WWWAuthenticateChallengeError) || error.status !== 401) throw error;
      if (attempt > 1 || !session.tokens?.refreshToken) throw signOut(session, 'the API no longer accepts your access token');
      // Force a refresh on the next attempt, unless a parallel request has already refreshed.
      if (session.tokens.accessToken === token) session.tokens.expiresAt = 0;
    }
  }
}

// --- HTML, escaped by default: html`...${value}...` escapes every value -----------------------
class Html {
  constructor(text) {
    this.text = text;
  }
}
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fragment = (value) => (value instanceof Html ? value.text : Array.isArray(value) ? value.map(fragment).join('') : value == null ? '' : escapeHtml(value));
const html = (strings, ...values) => new Html(strings.reduce((out, s, i) => out + fragment(values[i - 1]) + s));

const STYLE = new Html(
  'body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem} pre{background:#f4f4f4;padding:.5rem;overflow:auto} textarea{width:100%} .error{color:#a00}',
);

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'referrer-policy': 'no-referrer', // the callback URL holds the authorization code
    'x-content-type-options': 'nosniff',
  });
  res.end(
    html`<!doctype html>
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width" />
          <title>${title} · Notes</title>
          <style>
            ${STYLE}
          </style>
        </head>
        <body>
          <h1>${title}</h1>
          ${body}
        </body>
      </html>`.text,
  );
}

const errorPage = (res, status, title, message) =>
  page(
    res,
    status,
    title,
    html`<p class="error">${message}</p>
      <p><a href="/">Back to Notes</a></p>`,
  );

function redirect(res, location, status = 303) {
  res.writeHead(status, { location, 'cache-control': 'no-store' });
  res.end();
}

// Reads a small application/x-www-form-urlencoded body (our own forms).
async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16_384) throw Object.assign(new Error('form too large'), { status: 413 });
  }
  return new URLSearchParams(body);
}

// --- Routes ----------------------------------------------------------------------------------
async function home(req, res) {
  const session = findSession(req);
  if (!session?.tokens) {
    return page(
      res,
      200,
      'Notes',
      html`<p>A sample app that keeps your notes in the Gatehouse sample API.</p>
        <p><a href="/login">Sign in with Gatehouse</a></p>`,
    );
  }
  const [me, notes] = await Promise.all([api(session, 'GET', '/me'), api(session, 'GET', '/notes')]);
  const expiresIn = Math.max(0, Math.round((session.tokens.expiresAt - Date.now()) / 1000));
  page(
    res,
    200,
    'Your notes',
    html`<ul>
        ${notes.map((note) => html`<li>${note.text} <small>(${new Date(note.created_at).toLocaleString()})</small></li>`)}
      </ul>
      ${notes.length === 0 ? html`<p>No notes yet.</p>` : ''}
      <form method="post" action="/notes">
        <input type="hidden" name="csrf" value="${session.csrf}" />
        <p><textarea name="text" rows="3" maxlength="2000" required aria-label="New note"></textarea></p>
        <p><button>Add note</button></p>
      </form>
      <h2>Who the API thinks you are (GET /api/me)</h2>
      <pre>${JSON.stringify(me, null, 2)}</pre>
      <p>Access token expires in ${expiresIn} s; ${session.tokens.refreshToken ? 'a refresh token will renew it.' : 'no refresh token.'}</p>
      <form method="post" action="/logout"><input type="hidden" name="csrf" value="${session.csrf}" /><button>Sign out</button></form>`,
  );
}

async function login(req, res) {
  const config = await gatehouse();
  const session = findSession(req) ?? startSession(res);
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  // One sign-in in progress per session: a newer one replaces an older one.
  session.login = { codeVerifier, state, startedAt: Date.now() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI.href,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });
  redirect(res, url.href, 302);
}

async function callback(req, res, url) {
  const session = findSession(req);
  const pending = session?.login;
  if (!pending || Date.now() - pending.startedAt > LOGIN_TIMEOUT_MS) {
    return errorPage(res, 400, 'Sign-in expired', 'This sign-in was not started here, or took too long. Please sign in again.');
  }
  session.login = undefined; // a verifier and a state are good for one attempt only
  // The URL Gatehouse redirected to, rebuilt from our public REDIRECT_URI (not the Host header):
  // openid-client sends it as redirect_uri to the token endpoint, where it must match.
  const currentUrl = new URL(REDIRECT_URI);
  currentUrl.search = url.search;
  let tokens;
  try {
    // Checks state and RFC 9207 iss, then exchanges the code with the PKCE verifier.
    tokens = await client.authorizationCodeGrant(await gatehouse(), currentUrl, { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state });
  } catch (error) {
    if (error instanceof client.AuthorizationResponseError && error.error === 'access_denied') {
      return page(
        res,
        200,
        'Not signed in',
        html`<p>You did not allow Notes to access your notes.</p>
          <p><a href="/login">Try again</a></p>`,
      );
    }
    if (error instanceof client.AuthorizationResponseError || error instanceof client.ResponseBodyError) {
      return errorPage(res, 400, 'Sign-in failed', `Gatehouse answered ${error.error}${error.error_description ? `: ${error.error_description}` : ''}`);
    }
    console.error('sign-in failed:', error);
    return errorPage(res, 400, 'Sign-in failed', `${error.message}${error.cause?.message ? ` (${error.cause.message})` : ''}`);
  }
  // A new session id after sign-in, so that an id planted before it is worthless (session fixation).
  sessions.delete(session.id);
  startSession(res).tokens = keepTokens(tokens);
  redirect(res, '/');
}

async function addNote(req, res) {
  const session = findSession(req);
  const form = await readForm(req);
  if (!csrfOk(session, form.get('csrf'))) return errorPage(res, 403, 'Form expired', 'Please reload the page and try again.');
  const text = (form.get('text') ?? '').trim();
  if (text) await api(session, 'POST', '/notes', { text });
  redirect(res, '/');
}

async function logout(req, res) {
  const session = findSession(req);
  const form = await readForm(req);
  if (session && !csrfOk(session, form.get('csrf'))) return errorPage(res, 403, 'Form expired', 'Please reload the page and try again.');
  const tokens = session?.tokens;
  if (tokens) {
    try {
      // Revoking the refresh token ends the whole grant at Gatehouse, its access tokens included.
      const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token'] : [tokens.accessToken, 'access_token'];
      await client.tokenRevocation(await gatehouse(), token, { token_type_hint: hint });
    } catch (error) {
      console.warn('token revocation failed, signing out locally anyway:', error.message);
    }
  }
  // This ends the session with Notes only; the user stays signed in at Gatehouse itself.
  endSession(res, session);
  redirect(res, '/');
}

async function route(req, res) {
  const url = new URL(req.url, REDIRECT_URI);
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /':
      return home(req, res);
    case 'GET /login':
      return login(req, res);
    case `GET ${REDIRECT_URI.pathname}`:
      return callback(req, res, url);
    case 'POST /notes':
      return addNote(req, res);
    case 'POST /logout':
      return logout(req, res);
    default:
      return errorPage(res, 404, 'Not found', 'There is no such page.');
  }
}

createServer((req, res) => {
  route(req, res).catch((error) => {
    if (res.headersSent) return res.destroy();
    if (error instanceof SignedOutError) {
      return page(
        res,
        401,
        'Signed out',
        html`<p>You are signed out: ${error.message}.</p>
          <p><a href="/login">Sign in again</a></p>`,
      );
    }
    if (error.status === 413) return errorPage(res, 413, 'Too large', 'That form was too large.');
    console.error(error);
    errorPage(res, 502, 'Something went wrong', error.message);
  });
}).listen(PORT, () => console.log(`Notes listening on port ${PORT}: open ${new URL('/', REDIRECT_URI).href} (Gatehouse ${ISSUER.href}, API ${API_URL})`));
