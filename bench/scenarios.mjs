// Benchmark scenarios. Each one describes its requests as plain data (method, path,
// headers, body) built from a started server's `endpoints` and the shared fixtures, so
// the same scenario runs against any server that offers what it `needs`.
//
// A scenario: {
//   name,
//   description,
//   needs: endpoint names (keys of server.endpoints) plus 'client' and/or 'tokens',
//   requests(server, fixtures) -> [{ method, path, headers?, body? }]  (sent in turn),
//   check?(status, body) -> true when a sample response is what the scenario means to measure,
// }
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
];

/** Why `scenario` cannot run against `server`, or null when it can. */
export function unsupported(scenario, server, fixtures) {
  for (const need of scenario.needs) {
    if (need === 'client' && !server.client) return 'no client';
    if (need === 'tokens' && !fixtures.tokens?.length) return 'no access tokens';
    if (need !== 'client' && need !== 'tokens' && !server.endpoints?.[need]) return `no ${need} endpoint`;
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

/** Sends the first request of a scenario once and applies its check; returns a problem or null. */
export async function probe(scenario, server, requests) {
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
