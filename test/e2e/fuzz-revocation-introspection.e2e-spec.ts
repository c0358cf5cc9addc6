import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { authenticatedClient, clientCredentials, formRequest, hostileString, mixed, Pairs, validCredentials } from '../helpers/fuzz-arbitraries';
import { exchange, expectClientEndpointError, fuzzTimeout, runFuzz, transport } from '../helpers/fuzz';
import { FuzzWorld, PASSWORD, useFuzzWorld } from '../helpers/fuzz-world';
import { basicFor, obtainToken } from '../helpers/http';

const FILE = 'test/e2e/fuzz-revocation-introspection.e2e-spec.ts';

/** RFC 7009 §2.2.1: the errors of RFC 6749 §5.2, and unsupported_token_type. */
const REVOCATION_ERRORS = ['invalid_request', 'invalid_client', 'unauthorized_client', 'unsupported_token_type'];
/** RFC 7662 §2.3: invalid_request, and the client authentication errors. */
const INTROSPECTION_ERRORS = ['invalid_request', 'invalid_client', 'unauthorized_client'];
const HINTS = ['access_token', 'refresh_token', 'id_token', 'urn:example:unknown'];

/** A token the revocation fuzzer may end, with the client it belongs to. */
interface Revocable {
  token: string;
  owner: string;
  active: boolean;
}

/** Property-based fuzzing of POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662). */
describe('fuzz: revocation and introspection', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;
  const revocable: Revocable[] = [];

  beforeAll(async () => {
    world = getWorld();
    const { m2m, app } = world.clients;
    for (let index = 0; index < 15; index++) {
      revocable.push({
        token: (await obtainToken(world.app.baseUrl, m2m, { grant_type: 'client_credentials' })).access_token,
        owner: m2m.client_id,
        active: true,
      });
      const refresh = await obtainToken(world.app.baseUrl, app, {
        grant_type: 'password',
        username: world.user.username,
        password: PASSWORD,
        scope: 'notes:read offline_access',
      });
      revocable.push({ token: refresh.refresh_token!, owner: app.client_id, active: true });
    }
  });

  /** Whether introspection (by a confidential client, outside the count) calls the token active. */
  const isActive = async (token: string): Promise<boolean> => {
    const response = await world.app.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { authorization: basicFor(world.clients.m2m), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token }).toString(),
      });
    expect(response.statusCode, response.body).toBe(200);
    return (JSON.parse(response.body) as { active: boolean }).active;
  };

  it(
    'revokes a token only for the client it was issued to, and answers everything else 200 or as RFC 6749 §5.2',
    async () => {
      const clients = new Map(world.known.map((client) => [client.id, client]));
      const baseline = fc
        .tuple(fc.constantFrom(...revocable), fc.constantFrom<'basic' | 'post'>('basic', 'post'), fc.option(fc.constantFrom(...HINTS), { nil: undefined }))
        .map(([entry, how, hint]) => ({
          params: [['token', entry.token], ...(hint ? [['token_type_hint', hint]] : [])] as Pairs,
          credentials: validCredentials(clients.get(entry.owner)!, how),
        }));
      const arbitrary = formRequest({
        path: '/oauth/revoke',
        baseline,
        credentials: clientCredentials(world.known),
        fields: {
          token: mixed([...revocable.map((entry) => entry.token), ...world.tokens.map((t) => t.token)]),
          token_type_hint: mixed(HINTS),
          client_id: hostileString,
        },
        transport: transport(0.25),
      });
      await runFuzz(
        world.fuzzer,
        'revocation endpoint',
        arbitrary,
        async ({ request, params }) => {
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          if (response.status === 200) {
            expect(authenticatedClient(request, world.known), `revocation for unauthenticated credentials: ${context}`).toBeDefined();
            expect(response.headers['cache-control'], context).toBe('no-store');
          } else {
            expectClientEndpointError(request, response, REVOCATION_ERRORS);
          }
          // The model: a token goes from active to inactive only through its own client's revocation, and never back.
          const entry = revocable.find((candidate) => candidate.token === params.get('token'));
          if (!entry) return;
          const active = await isActive(entry.token);
          if (entry.active && !active) {
            expect(
              response.status === 200 && authenticatedClient(request, world.known)?.id === entry.owner,
              `the token of ${entry.owner} ended by: ${context}`,
            ).toBe(true);
          }
          expect(!entry.active && active, `a revoked token came back: ${context}`).toBe(false);
          entry.active = active;
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );

  it(
    'introspects only for a confidential client, calls only live tokens active, and answers errors as RFC 7662 §2.3',
    async () => {
      const confidential = world.known.filter((client) => client.secret !== undefined);
      const liveTokens = new Set([...world.tokens.filter((t) => t.live || t.otherAudience).map((t) => t.token), ...world.refreshTokens]);
      const candidates = [...world.tokens.map((t) => t.token), ...world.refreshTokens, ...revocable.map((entry) => entry.token)];
      const baseline = fc
        .tuple(
          fc.constantFrom(...candidates),
          fc.constantFrom(...confidential),
          fc.constantFrom<'basic' | 'post'>('basic', 'post'),
          fc.option(fc.constantFrom(...HINTS), { nil: undefined }),
        )
        .map(([token, client, how, hint]) => ({
          params: [['token', token], ...(hint ? [['token_type_hint', hint]] : [])] as Pairs,
          credentials: validCredentials(client, how),
        }));
      const arbitrary = formRequest({
        path: '/oauth/introspect',
        baseline,
        credentials: clientCredentials(world.known),
        fields: { token: mixed(candidates), token_type_hint: mixed(HINTS) },
        transport: transport(0.25),
      });
      await runFuzz(
        world.fuzzer,
        'introspection endpoint',
        arbitrary,
        async ({ request, params }) => {
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          if (response.status !== 200) {
            expectClientEndpointError(request, response, INTROSPECTION_ERRORS);
            return;
          }
          expect(
            authenticatedClient(request, world.known)?.secret,
            `introspection for a client that is not confidential and authenticated: ${context}`,
          ).toBeDefined();
          expect(response.headers['cache-control'], context).toBe('no-store');
          const body = response.json as { active: unknown; exp?: number; client_id?: unknown; scope?: unknown; token_type?: unknown };
          expect(typeof body.active, context).toBe('boolean');
          if (!body.active) {
            // RFC 7662 §2.2: nothing more about a token that is not active.
            expect(body, context).toEqual({ active: false });
            return;
          }
          const token = params.get('token')!;
          const revocableEntry = revocable.find((entry) => entry.token === token);
          expect(liveTokens.has(token) || revocableEntry?.active, `active for a token that is not live: ${context}`).toBe(true);
          expect(typeof body.client_id, context).toBe('string');
          expect(typeof body.scope, context).toBe('string');
          expect(['Bearer', 'refresh_token'], context).toContain(body.token_type);
          expect(body.exp, context).toBeGreaterThan(Date.now() / 1000);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );
});
