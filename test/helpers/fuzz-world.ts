import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { AuthorizationCodesService } from '../../src/auth/authorization-codes.service';
import { KeyStore } from '../../src/keys/key-store';
import { SessionsService } from '../../src/sessions/sessions.service';
import { KnownClient } from './fuzz-arbitraries';
import { expectNoProcessFailures, Fuzzer } from './fuzz';
import { basicFor, obtainToken, postForm } from './http';
import { accessTokenClaims, hs256Jwt, rawJwt, signWithServerKey, withPayload } from './jwt';
import { startTestApp, TestApp, TestClient } from './test-app';

/** An access token the fuzzers present, and what it is. */
export interface FuzzToken {
  token: string;
  /** Signed by this server, unexpired, unrevoked, for the sample API's audience. */
  live: boolean;
  scopes: string[];
  /** A user's token (UserInfo answers for it when it has openid). */
  user: boolean;
  /** Signed by this server, unexpired and unrevoked, but for another audience than the sample API's (introspection calls it active). */
  otherAudience?: boolean;
  label: string;
}

/**
 * What the fuzz specs work against: a Gatehouse over a fresh database with a client of
 * each kind, a user, a signed-in browser session, and access and refresh tokens that are
 * live, expired, revoked, for another audience, or forged.
 */
export interface FuzzWorld {
  app: TestApp;
  fuzzer: Fuzzer;
  issuer: string;
  clients: {
    /** Confidential, client_credentials. */
    m2m: TestClient;
    /** Confidential, password and refresh_token. */
    app: TestClient;
    /** Confidential, authorization code (first party: no consent page), two redirect URIs. */
    web: TestClient;
    /** Public, authorization code with PKCE. */
    spa: TestClient;
    /** Confidential, implicit and hybrid. */
    hybrid: TestClient;
  };
  /** Every client with its secret, for the credential generators. */
  known: KnownClient[];
  user: { id: string; username: string; password: string };
  /** Cookie values of signed-in sessions of the user. */
  sessions: string[];
  /** Redirect URIs by client_id: the only places the authorization endpoint may send a browser. */
  redirectUris: Map<string, string[]>;
  tokens: FuzzToken[];
  /** Live refresh tokens of the app client (each works once). */
  refreshTokens: string[];
  /** A PKCE verifier and its S256 challenge, used for the codes below. */
  pkce: { verifier: string; challenge: string };
  /** Unused authorization codes for the web client (valid for AUTHORIZATION_CODE_TTL). */
  codes: string[];
  close(): Promise<void>;
}

export const PASSWORD = 'correct horse battery staple';
export const WEB_REDIRECTS = ['http://127.0.0.1:7001/callback', 'https://rp.example.com/cb?tenant=1'];
export const SPA_REDIRECT = 'http://localhost:7002/spa';
export const HYBRID_REDIRECT = 'https://hybrid.example.com/cb';

/**
 * Starts the world. Rate limits are raised (not turned off) so that a fuzzer from one
 * address still reaches the code behind them (a 429 is still a valid answer); the account
 * and client-secret lockouts stay on, with a short lockout, so that both sides are reached.
 */
export async function startFuzzWorld(env: Record<string, string> = {}): Promise<FuzzWorld> {
  const app = await startTestApp({
    env: {
      LOGIN_RATE_LIMIT: '100000',
      REGISTRATION_RATE_LIMIT: '100000',
      TOKEN_RATE_LIMIT_PER_CLIENT: '100000000',
      TOKEN_RATE_LIMIT_PER_ADDRESS: '100000000',
      LOGIN_MAX_FAILURES: '50',
      LOGIN_LOCKOUT: '1s',
      CLIENT_AUTH_MAX_FAILURES: '50',
      CLIENT_AUTH_LOCKOUT: '1s',
      DATABASE_POOL_SIZE: '4',
      ...env,
    },
  });
  try {
    return await populate(app);
  } catch (error) {
    await app.close();
    throw error;
  }
}

/**
 * Starts a world before the spec file's tests and closes it after them, then checks that
 * no request left an unhandled rejection or uncaught exception behind. Returns its getter.
 */
export function useFuzzWorld(env: Record<string, string> = {}): () => FuzzWorld {
  let world: FuzzWorld | undefined;
  beforeAll(async () => {
    world = await startFuzzWorld(env);
  });
  afterAll(async () => {
    await world?.close();
    expectNoProcessFailures();
  });
  return () => world!;
}

async function populate(app: TestApp): Promise<FuzzWorld> {
  const m2m = await app.createClient({ client_id: 'm2m', grant_types: ['client_credentials'], scope: 'notes:read notes:write' });
  const reader = await app.createClient({ client_id: 'reader', grant_types: ['client_credentials'], scope: 'notes:read' });
  const password = await app.createClient({ client_id: 'app', grant_types: ['password'], scope: 'openid profile email notes:read notes:write offline_access' });
  const web = await app.createClient({
    client_id: 'web',
    redirect_uris: WEB_REDIRECTS,
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email notes:read offline_access',
    first_party: true,
  });
  const spa = await app.createClient({
    client_id: 'spa',
    redirect_uris: [SPA_REDIRECT],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'none',
    scope: 'openid notes:read',
  });
  const hybrid = await app.createClient({
    client_id: 'hybrid',
    redirect_uris: [HYBRID_REDIRECT],
    grant_types: ['authorization_code', 'implicit'],
    response_types: ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
    scope: 'openid profile notes:read',
    first_party: true,
  });
  const username = 'alice';
  const user = await app.createUser({ username, password: PASSWORD, email: 'alice@example.com', name: 'Alice' });

  const sessionsService = app.app.get(SessionsService);
  const sessions: string[] = [];
  for (let index = 0; index < 2; index++) sessions.push((await sessionsService.signIn(undefined, user.id)).cookieValue);

  const cc = (client: TestClient, scope: string) => obtainToken(app.baseUrl, client, { grant_type: 'client_credentials', scope });
  const pw = (scope: string) => obtainToken(app.baseUrl, password, { grant_type: 'password', username, password: PASSWORD, scope });
  const tokens: FuzzToken[] = [
    { token: (await cc(m2m, 'notes:read notes:write')).access_token, live: true, scopes: ['notes:read', 'notes:write'], user: false, label: 'm2m' },
    { token: (await cc(reader, 'notes:read')).access_token, live: true, scopes: ['notes:read'], user: false, label: 'reader' },
    {
      token: (await pw('openid profile email notes:read notes:write')).access_token,
      live: true,
      scopes: ['openid', 'profile', 'email', 'notes:read', 'notes:write'],
      user: true,
      label: 'alice-openid',
    },
    { token: (await pw('notes:read')).access_token, live: true, scopes: ['notes:read'], user: true, label: 'alice-notes' },
  ];
  const refreshTokens: string[] = [];
  for (let index = 0; index < 5; index++) refreshTokens.push((await pw('openid notes:read offline_access')).refresh_token!);

  const revoked = (await pw('openid notes:read')).access_token;
  const revocation = await postForm(`${app.baseUrl}/oauth/revoke`, { token: revoked }, { authorization: basicFor(password) });
  expect(revocation.status, revocation.text).toBe(200);
  const now = Math.floor(Date.now() / 1000);
  const forged = (label: string, token: string): FuzzToken => ({ token, live: false, scopes: [], user: label.startsWith('user'), label });
  const publicKey = app.app.get(KeyStore).verificationKey(JSON.parse(Buffer.from(tokens[0].token.split('.')[0], 'base64url').toString()).kid)?.publicKey;
  tokens.push(
    forged('user-revoked', revoked),
    forged('expired', signWithServerKey(app, accessTokenClaims(app, { iat: now - 7200, exp: now - 3600 }))),
    { ...forged('other-audience', signWithServerKey(app, accessTokenClaims(app, { aud: 'https://other.example' }))), otherAudience: true },
    forged('future-iat', signWithServerKey(app, accessTokenClaims(app, { iat: now + 3600, exp: now + 7200 }))),
    forged('wrong-typ', signWithServerKey(app, accessTokenClaims(app), { typ: 'JWT' })),
    forged('no-scope-claim', signWithServerKey(app, accessTokenClaims(app, { scope: undefined }))),
    forged('scope-not-string', signWithServerKey(app, accessTokenClaims(app, { scope: ['notes:read'] }))),
    forged('alg-none', rawJwt({ alg: 'none', typ: 'at+jwt' }, accessTokenClaims(app))),
    forged('hs256-public-key', hs256Jwt({ typ: 'at+jwt', kid: 'x' }, accessTokenClaims(app), publicKey?.export({ type: 'spki', format: 'pem' }) ?? 'x')),
    forged('tampered', withPayload(tokens[1].token, { ...accessTokenClaims(app), scope: 'notes:read notes:write' })),
    forged('unknown-kid', rawJwt({ alg: 'ES256', typ: 'at+jwt', kid: 'nope' }, accessTokenClaims(app), 'AAAA')),
    forged('jwe-shaped', 'a.b.c.d.e'),
    forged('not-a-jwt', randomBytes(24).toString('base64url')),
    forged('huge', 'a'.repeat(12_000)),
  );

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const codesService = app.app.get(AuthorizationCodesService);
  const webSession = await sessionsService.signIn(undefined, user.id);
  const codes: string[] = [];
  for (let index = 0; index < 20; index++) {
    codes.push(
      await codesService.issue({
        clientId: 'web',
        redirectUri: WEB_REDIRECTS[0],
        redirectUriGiven: index % 2 === 0,
        scopes: ['openid', 'notes:read'],
        subject: user.id,
        sessionId: webSession.session.id,
        authTime: new Date(),
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        nonce: null,
        claims: null,
      }),
    );
  }

  const clients = { m2m, app: password, web, spa, hybrid };
  const known: KnownClient[] = [m2m, reader, password, web, spa, hybrid].map((c) => ({ id: c.client_id, secret: c.client_secret }));
  const redirectUris = new Map<string, string[]>([
    ['web', WEB_REDIRECTS],
    ['spa', [SPA_REDIRECT]],
    ['hybrid', [HYBRID_REDIRECT]],
  ]);
  const fuzzer = new Fuzzer(app);
  return {
    app,
    fuzzer,
    issuer: app.config.issuer,
    clients,
    known,
    user: { id: user.id, username, password: PASSWORD },
    sessions,
    redirectUris,
    tokens,
    refreshTokens,
    pkce: { verifier, challenge },
    codes,
    close: async () => {
      fuzzer.close();
      await app.close();
    },
  };
}
