import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { authenticatedClient, clientCredentials, formRequest, hostileString, mixed, Pairs, validCredentials } from '../helpers/fuzz-arbitraries';
import { exchange, expectClientEndpointError, FUZZ_RUNS, fuzzTimeout, runFuzz, transport } from '../helpers/fuzz';
import { FuzzWorld, SPA_REDIRECT, WEB_REDIRECTS, useFuzzWorld } from '../helpers/fuzz-world';

const FILE = 'test/e2e/fuzz-token.e2e-spec.ts';

/** RFC 6749 §5.2 (and RFC 7636 §4.6): the token endpoint's error codes. */
const TOKEN_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'];

const GRANT_TYPES = [
  'client_credentials',
  'password',
  'refresh_token',
  'authorization_code',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:example:unknown',
  'CLIENT_CREDENTIALS',
];
const SCOPES = ['notes:read', 'notes:write', 'notes:read notes:write', 'openid', 'openid profile email offline_access', 'admin', 'notes:read  openid'];

/** Property-based fuzzing of POST /oauth/token (RFC 6749 §3.2, §4, §5, §6). */
describe('fuzz: token endpoint', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;

  beforeAll(async () => {
    world = getWorld();
  });

  it(
    'answers every generated token request with a token to a properly authenticated client or an RFC 6749 §5.2 error, never a 5xx',
    async () => {
      const { known, user, clients } = world;
      const client = (id: string) => known.find((candidate) => candidate.id === id)!;
      const method = fc.constantFrom<'basic' | 'post'>('basic', 'post');
      // A valid request of every grant to start from; the mutations then break it in every way.
      const baseline = fc.oneof(
        fc.tuple(method, fc.constantFrom('notes:read', 'notes:read notes:write', '')).map(([how, scope]) => ({
          params: [['grant_type', 'client_credentials'], ...(scope ? [['scope', scope]] : [])] as Pairs,
          credentials: validCredentials(client(clients.m2m.client_id), how),
        })),
        method.map((how) => ({
          params: [
            ['grant_type', 'password'],
            ['username', user.username],
            ['password', user.password],
            ['scope', 'openid notes:read'],
          ] as Pairs,
          credentials: validCredentials(client(clients.app.client_id), how),
        })),
        fc.tuple(method, fc.constantFrom(...world.refreshTokens)).map(([how, token]) => ({
          params: [
            ['grant_type', 'refresh_token'],
            ['refresh_token', token],
          ] as Pairs,
          credentials: validCredentials(client(clients.app.client_id), how),
        })),
        fc.tuple(method, fc.constantFrom(...world.codes)).map(([how, code]) => ({
          params: [
            ['grant_type', 'authorization_code'],
            ['code', code],
            ['code_verifier', world.pkce.verifier],
            ['redirect_uri', WEB_REDIRECTS[0]],
          ] as Pairs,
          credentials: validCredentials(client(clients.web.client_id), how),
        })),
        fc.constantFrom(...world.codes).map((code) => ({
          params: [
            ['grant_type', 'authorization_code'],
            ['code', code],
            ['code_verifier', world.pkce.verifier],
            ['redirect_uri', SPA_REDIRECT],
          ] as Pairs,
          credentials: validCredentials(client(clients.spa.client_id)),
        })),
      );
      const arbitrary = formRequest({
        path: '/oauth/token',
        baseline,
        credentials: clientCredentials(known),
        fields: {
          grant_type: mixed(GRANT_TYPES),
          scope: mixed(SCOPES),
          username: mixed([user.username, 'bob']),
          password: mixed([user.password, 'wrong password']),
          refresh_token: mixed(world.refreshTokens),
          code: mixed(world.codes),
          code_verifier: mixed([world.pkce.verifier, 'x'.repeat(43)]),
          redirect_uri: mixed(WEB_REDIRECTS),
          assertion: hostileString,
        },
        transport: transport(0.25),
      });
      await runFuzz(
        world.fuzzer,
        'token endpoint',
        arbitrary,
        async ({ request, params }) => {
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          expect(response.headers['cache-control'], context).toBe('no-store');
          if (response.status === 200) {
            const body = response.json as Record<string, unknown>;
            expect(typeof body.access_token, context).toBe('string');
            expect(body.token_type, context).toBe('Bearer');
            expect(body.expires_in, context).toBeGreaterThan(0);
            // Tokens go only to a client that proved who it is (or a public client naming itself)...
            expect(authenticatedClient(request, known), `a token for unauthenticated credentials: ${context}`).toBeDefined();
            // ...and a password grant only with the user's password.
            if (params.get('grant_type') === 'password') expect(params.get('password'), context).toBe(user.password);
            return;
          }
          expectClientEndpointError(request, response, TOKEN_ERRORS);
          expect([400, 401, 404, 405, 413, 414, 415, 429, 431], context).toContain(response.status);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );

  it(
    'never issues a token to a request whose client authentication is not exactly right',
    async () => {
      // Only wrong credentials, every other part valid: the answer is always invalid_client or invalid_request.
      const arbitrary = fc.record({
        credentials: clientCredentials(world.known).filter((credentials) => !credentials.valid),
        transport: transport(0.25),
      });
      await runFuzz(
        world.fuzzer,
        'token endpoint, wrong credentials',
        arbitrary,
        async ({ credentials, transport: via }) => {
          const form = new URLSearchParams([...credentials.params, ['grant_type', 'client_credentials']]).toString();
          const request = {
            method: 'POST',
            target: '/oauth/token',
            headers: [...credentials.headers, ['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][],
            body: form,
            transport: via,
          };
          // (An empty client_secret is no secret: client_id alone is then a public client's right authentication.)
          fc.pre(authenticatedClient(request, world.known) === undefined);
          const { response, context } = await exchange(world.fuzzer, request);
          expect(response.status, context).not.toBe(200);
          expectClientEndpointError(request, response, ['invalid_client', 'invalid_request', 'unauthorized_client']);
        },
        { file: FILE, runs: Math.max(100, Math.round(FUZZ_RUNS / 5)) },
      );
    },
    fuzzTimeout(),
  );
});
