// Peer resource server: a small Node.js HTTP server whose GET /api/me verifies the ES256 JWT
// access tokens (RFC 9068) of the peer authorization server (oidc-provider) with `jose`:
// jwtVerify against the provider's JWKS, fetched once at start (createLocalJWKSet), checking
// the signature (ES256 only), `typ` at+jwt, issuer, audience and expiry. Every request verifies
// its token (no cache). Started by servers.mjs as its own process; BENCH_PEER_CONFIG:
// { port, issuer, audience, jwksUri }.
import { createServer } from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { closeHttpServer, exitOnSignal, peerConfig } from './shared.mjs';

const { port, issuer, audience, jwksUri } = peerConfig(['port', 'issuer', 'audience', 'jwksUri']);

const response = await fetch(jwksUri);
if (!response.ok) throw new Error(`${jwksUri} answered ${response.status}`);
const keys = createLocalJWKSet(await response.json());
const options = { issuer, audience, algorithms: ['ES256'], typ: 'at+jwt' };

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
};
const unauthorized = (res, description) =>
  send(
    res,
    401,
    { error: 'invalid_token', error_description: description },
    { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` },
  );

async function me(req, res) {
  const [scheme, token] = (req.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) {
    return send(res, 401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(token, keys, options));
  } catch {
    return unauthorized(res, 'the access token is not valid');
  }
  return send(res, 200, { sub: payload.sub, client_id: payload.client_id, scope: payload.scope ?? '', exp: payload.exp });
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/me') return void me(req, res);
  send(res, 404, { error: 'not_found' });
});
server.listen(port, '127.0.0.1', () => process.stderr.write(`jose resource server listening on port ${port}\n`));

exitOnSignal(closeHttpServer(server));
