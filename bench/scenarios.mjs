// Benchmark scenarios. Each one describes its requests as plain data (method, path,
// headers, body) built from a started server's `endpoints` and the shared fixtures, so
// the same scenario runs against any server that offers what it `needs`.
//
// A scenario: {
//   name,
//   description,
//   needs: endpoint names (keys of server.endpoints) plus 'client', 'tokens' and/or 'session'
//          (server.browser: a web client and the cookie of a signed-in browser session),
//   requests(server, fixtures) -> [{ method, path, headers?, body?, expect? }]  (sent in turn;
//          with `expect`, a chained round trip: see chain.mjs),
//   check?(status, body) -> true when a sample response is what the scenario means to measure
//          (a chain is checked by running it once instead),
// }
import { createHash, randomBytes } from 'node:crypto';
import { isChain, runChainOnce } from './chain.mjs';
import { basicAuth, mapLimit } from './lib.mjs';

const FORM = 'application/x-www-form-urlencoded';

export const scenarios = [
  {
    name: 'client_credentials',
    description: 'POST token endpoint, client_credentials grant, client_secret_basic',
    needs: ['token', 'client'],
    requests: (server) => [
      {
        method: 'POST',
        path: server.endpoints.token,
        headers: { authorization: basicAuth(server.client.id, server.client.secret), 'content-type': FORM },
        body: 'grant_type=client_credentials',
      },
    ],
    check: (status, body) => status === 200 && typeof body?.access_token === 'string',
  },
  {
    name: 'resource_api',
    description: 'GET a protected API with one of the pre-issued Bearer access tokens (JWT verification)',
    needs: ['resource', 'tokens'],
    requests: (server, fixtures) =>
      fixtures.tokens.map((token) => ({ method: 'GET', path: server.endpoints.resource, headers: { authorization: `Bearer ${token}` } })),
    check: (status) => status === 200,
  },
  {
    name: 'introspection',
    description: 'POST introspection endpoint (RFC 7662) of the pre-issued tokens, client_secret_basic',
    needs: ['introspection', 'client', 'tokens'],
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
    name: 'jwks',
    description: 'GET the JSON Web Key Set',
    needs: ['jwks'],
    requests: (server) => [{ method: 'GET', path: server.endpoints.jwks }],
    check: (status, body) => status === 200 && Array.isArray(body?.keys) && body.keys.length > 0,
  },
  {
    name: 'metadata',
    description: 'GET the authorization server metadata (RFC 8414)',
    needs: ['metadata'],
    requests: (server) => [{ method: 'GET', path: server.endpoints.metadata }],
    check: (status, body) => status === 200 && typeof body?.issuer === 'string',
  },
  {
    name: 'authorization_code',
    description:
      'Authorization code round trip of a web app whose user is signed in and has consented (first-party client): ' +
      'GET the authorization endpoint with the session cookie and PKCE S256 -> 302 to the redirect_uri with code, state and iss; ' +
      'then POST the token endpoint, authorization_code grant with the code and code_verifier, client_secret_basic -> 200. ' +
      'round_trips_per_sec counts complete round trips (both requests); latencies are per request',
    needs: ['authorize', 'token', 'session'],
    requests: (server) => {
      const { client, redirectUri, scope, cookie } = server.browser;
      // One PKCE pair for every round trip: the server still hashes and compares the verifier each time.
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const state = 'bench-state';
      const authorize = new URLSearchParams({
        response_type: 'code',
        client_id: client.id,
        redirect_uri: redirectUri,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        scope,
      });
      const redeem = new URLSearchParams({ redirect_uri: redirectUri, code_verifier: verifier });
      return [
        {
          method: 'GET',
          path: `${server.endpoints.authorize}?${authorize}`,
          headers: { cookie },
          expect: { status: 302, location: { url: redirectUri, params: { state, iss: server.issuer ?? server.baseUrl }, capture: { code: 'code' } } },
        },
        {
          method: 'POST',
          path: server.endpoints.token,
          headers: { authorization: basicAuth(client.id, client.secret), 'content-type': FORM },
          body: `grant_type=authorization_code&code={{code}}&${redeem}`, // {{code}}: from the Location above
          expect: { status: 200, json: ['access_token', 'token_type'] },
        },
      ];
    },
  },
];

/** Why `scenario` cannot run against `server`, or null when it can. */
export function unsupported(scenario, server, fixtures) {
  for (const need of scenario.needs) {
    if (need === 'client' && !server.client) return 'no client';
    if (need === 'tokens' && !fixtures.tokens?.length) return 'no access tokens';
    if (need === 'session' && !server.browser) return 'no signed-in browser session';
    if (!['client', 'tokens', 'session'].includes(need) && !server.endpoints?.[need]) return `no ${need} endpoint`;
  }
  return null;
}

/**
 * Shared fixtures: `count` distinct access tokens from the server's token endpoint
 * (client_credentials), when it has one and a client.
 */
export async function prepareFixtures(server, { count = 300, scope } = {}) {
  if (!server.endpoints?.token || !server.client) return { tokens: [] };
  const authorization = basicAuth(server.client.id, server.client.secret);
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }).toString();
  const tokens = await mapLimit(Array.from({ length: count }), 8, async () => {
    const response = await fetch(new URL(server.endpoints.token, server.baseUrl), {
      method: 'POST',
      headers: { authorization, 'content-type': FORM },
      body,
    });
    const json = await response.json().catch(() => null);
    if (!response.ok || typeof json?.access_token !== 'string') {
      throw new Error(`token endpoint answered ${response.status} ${JSON.stringify(json)}`);
    }
    return json.access_token;
  });
  const distinct = new Set(tokens).size;
  if (distinct !== tokens.length) throw new Error(`expected ${tokens.length} distinct access tokens, got ${distinct}`);
  return { tokens };
}

/**
 * Sends the first request of a scenario once and applies its check (a chain: runs it once,
 * checking every step); returns a problem or null.
 */
export async function probe(scenario, server, requests) {
  if (isChain(requests)) return runChainOnce(server.baseUrl, requests);
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
