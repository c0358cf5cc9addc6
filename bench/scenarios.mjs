// Benchmark scenarios. Each one describes its requests as plain data (method, path,
// headers, body) built from a started server's `endpoints` and the fixtures, so the same
// scenario runs against every server that offers what it `needs`.
//
// A scenario: {
//   name,
//   description,
//   needs: endpoint names (keys of server.endpoints) plus, from the server (see servers.mjs):
//          'client', 'tokens' (access tokens its resource endpoint accepts), 'introspectable'
//          (tokens its introspection endpoint introspects natively), 'refresh' (fresh refresh
//          tokens) and/or 'session' (a web client and the cookie of a signed-in browser),
//   fixture?: 'tokens' | 'introspectable'  -> fixtures.tokens: BENCH_TOKENS of them, issued
//          before the scenario's rounds,
//   requests(server, fixtures) -> [{ method, path, headers?, body?, expect? }]  (sent in turn;
//          with `expect`, a chained round trip: see chain.mjs),
//   seeds?(server, count) -> [{ var: value }]: a seeded chain's starting values, one per
//          connection, issued afresh for every run (warm-up and measurement) and for the probe,
//   check?(status, body) -> true when a sample response is what the scenario means to measure
//          (a chain is checked by running it once instead),
// }
import { isChain, isCompactJws, runChainOnce } from './chain.mjs';
import { codeRequest, pkce } from './browser.mjs';
import { basicAuth } from './lib.mjs';

const FORM = 'application/x-www-form-urlencoded';
const get = (path, headers) => ({ method: 'GET', path, ...(headers ? { headers } : {}) });

export const scenarios = [
  {
    name: 'client_credentials',
    description: 'POST token endpoint, client_credentials grant with scope, client_secret_basic: a signed JWT access token per request',
    needs: ['token', 'client'],
    requests: (server) => [
      {
        method: 'POST',
        path: server.endpoints.token,
        headers: { authorization: basicAuth(server.client.id, server.client.secret), 'content-type': FORM },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...(server.scope ? { scope: server.scope } : {}) }).toString(),
      },
    ],
    check: (status, body) => status === 200 && isCompactJws(body?.access_token),
  },
  {
    name: 'resource_api',
    description: 'GET a protected API with one of the pre-issued Bearer access tokens in turn (JWT verification)',
    needs: ['resource', 'tokens'],
    fixture: 'tokens',
    requests: (server, fixtures) => fixtures.tokens.map((token) => get(server.endpoints.resource, { authorization: `Bearer ${token}` })),
    check: (status) => status === 200,
  },
  {
    name: 'introspection',
    description: 'POST introspection endpoint (RFC 7662) of the pre-issued tokens in turn, client_secret_basic',
    needs: ['introspection', 'client', 'introspectable'],
    fixture: 'introspectable',
    requests: (server, fixtures) => {
      const authorization = basicAuth(server.client.id, server.client.secret);
      return fixtures.tokens.map((token) => ({
        method: 'POST',
        path: server.endpoints.introspection,
        headers: { authorization, 'content-type': FORM },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      }));
    },
    check: (status, body) => status === 200 && body?.active === true,
  },
  {
    name: 'refresh_chain',
    description:
      'Refresh-token chain: every connection starts from a refresh token of its own and redeems, request after request, ' +
      'the refresh token of the previous answer (POST token endpoint, refresh_token grant, client_secret_basic -> 200 with ' +
      'a new access token and refresh token). A failed rotation counts as unexpected; round_trips_per_sec counts good rotations',
    needs: ['token', 'refresh'],
    seeds: async (server, count) => (await server.refresh.issue(count)).map((refreshToken) => ({ refresh_token: refreshToken })),
    requests: (server) => [
      {
        method: 'POST',
        path: server.endpoints.token,
        headers: { authorization: basicAuth(server.refresh.client.id, server.refresh.client.secret), 'content-type': FORM },
        body: 'grant_type=refresh_token&refresh_token={{refresh_token}}', // {{refresh_token}}: the seed, then the previous answer's
        expect: { status: 200, json: ['access_token', 'token_type'], jwt: ['access_token'], captureJson: { refresh_token: 'refresh_token' } },
      },
    ],
  },
  {
    name: 'authorization_code',
    description:
      'Authorization code round trip of a web app whose user is signed in and has consented (first-party client, or a remembered consent): ' +
      'GET the authorization endpoint with the session cookie and PKCE S256 -> 302 (oidc-provider: 303) to the redirect_uri with code, state and iss; ' +
      'then POST the token endpoint, authorization_code grant with the code and code_verifier, client_secret_basic -> 200. ' +
      'round_trips_per_sec counts complete round trips (both requests); latencies are per request',
    needs: ['authorize', 'token', 'session'],
    requests: (server) => {
      const { client, redirectUri, scope, cookie, redirectStatus = 302 } = server.browser;
      // One PKCE pair for every round trip: the server still hashes and compares the verifier each time.
      const { verifier, challenge } = pkce();
      const state = 'bench-state';
      const authorize = codeRequest({ client, redirectUri, scope, state, challenge });
      const redeem = new URLSearchParams({ redirect_uri: redirectUri, code_verifier: verifier });
      return [
        {
          method: 'GET',
          path: `${server.endpoints.authorize}?${authorize}`,
          headers: { cookie },
          expect: {
            status: redirectStatus,
            location: { url: redirectUri, params: { state, iss: server.issuer ?? server.baseUrl }, capture: { code: 'code' } },
          },
        },
        {
          method: 'POST',
          path: server.endpoints.token,
          headers: { authorization: basicAuth(client.id, client.secret), 'content-type': FORM },
          body: `grant_type=authorization_code&code={{code}}&${redeem}`, // {{code}}: from the Location above
          expect: { status: 200, json: ['access_token', 'token_type'], jwt: ['access_token'] },
        },
      ];
    },
  },
  {
    name: 'jwks',
    description: 'GET the JSON Web Key Set',
    needs: ['jwks'],
    requests: (server) => [get(server.endpoints.jwks)],
    check: (status, body) => status === 200 && Array.isArray(body?.keys) && body.keys.length > 0,
  },
  {
    name: 'discovery',
    description: 'GET the OpenID Connect discovery document (/.well-known/openid-configuration)',
    needs: ['discovery'],
    requests: (server) => [get(server.endpoints.discovery)],
    check: (status, body) => status === 200 && typeof body?.issuer === 'string' && typeof body?.token_endpoint === 'string',
  },
  {
    name: 'metadata',
    description: 'GET the authorization server metadata (RFC 8414)',
    needs: ['metadata'],
    requests: (server) => [get(server.endpoints.metadata)],
    check: (status, body) => status === 200 && typeof body?.issuer === 'string',
  },
  {
    name: 'bare_route',
    description: "GET a route that does nothing (Gatehouse: /health/live, a bare NestJS route in Gatehouse's process; Fastify: a bare route)",
    needs: ['bare'],
    requests: (server) => [get(server.endpoints.bare)],
    check: (status, body) => status === 200 && body?.status === 'ok',
  },
];

const SERVER_NEEDS = ['client', 'tokens', 'introspectable', 'refresh', 'session'];

/** Why `scenario` cannot run against `server` (its entry `entry`), or null when it can. */
export function unsupported(scenario, server, entry = {}) {
  if (entry.scenarios && !entry.scenarios.includes(scenario.name)) return `it runs only ${entry.scenarios.join(', ')}`;
  for (const need of scenario.needs) {
    if (need === 'client' && !server.client) return 'no client';
    if (need === 'tokens' && typeof server.tokens !== 'function') return 'no access tokens for its resource endpoint';
    if (need === 'introspectable' && typeof server.introspectable !== 'function') return 'no tokens to introspect';
    if (need === 'refresh' && !server.refresh) return 'no refresh tokens';
    if (need === 'session' && !server.browser) return 'no signed-in browser session';
    if (!SERVER_NEEDS.includes(need) && !server.endpoints?.[need]) return `no ${need} endpoint`;
  }
  return null;
}

/** The fixtures of a scenario on a server: `count` distinct tokens when the scenario has a `fixture`. */
export async function prepareFixtures(scenario, server, { count = 300 } = {}) {
  if (!scenario.fixture) return { tokens: [] };
  return { tokens: await server[scenario.fixture](count) };
}

/**
 * Sends the first request of a scenario once and applies its check (a chain: runs it once,
 * checking every step, from `seed` for a seeded chain); returns a problem or null.
 */
export async function probe(scenario, server, requests, seed) {
  if (isChain(requests)) return runChainOnce(server.baseUrl, requests, seed);
  const [first] = requests;
  const response = await fetch(new URL(first.path, server.baseUrl), { method: first.method, headers: first.headers, body: first.body });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  if (scenario.check && !scenario.check(response.status, body)) return `sample response ${response.status}: ${text.slice(0, 300)}`;
  return null;
}
