import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  anyMethod,
  bearerPresentation,
  BearerPresentation,
  namedToken,
  encodeTarget,
  formContentType,
  hostileString,
  jsonBody,
  jsonContentType,
  oddJsonValue,
  oneTimeIn,
  percentGarbage,
} from '../helpers/fuzz-arbitraries';
import {
  describeRequest,
  describeResponse,
  exchange,
  expectBearerChallenge,
  expectNoServerError,
  expectRfcError,
  FuzzRequest,
  FuzzResponse,
  fuzzTimeout,
  runFuzz,
  transport,
} from '../helpers/fuzz';
import { FuzzToken, FuzzWorld, useFuzzWorld } from '../helpers/fuzz-world';

const FILE = 'test/e2e/fuzz-bearer.e2e-spec.ts';

/** The scopes a route of the sample API needs; undefined for what is not a route (HEAD is answered like GET). */
function neededScopes(method: string, path: string): readonly string[] | undefined {
  const read = method === 'GET' || method === 'HEAD';
  if (read && path === '/api/me') return [];
  if (read && path === '/api/notes') return ['notes:read'];
  if (method === 'POST' && path === '/api/notes') return ['notes:write'];
  if (method === 'DELETE' && /^\/api\/notes\/[^/?]+$/.test(path)) return ['notes:write'];
  return undefined;
}

/** RFC 6750 §3.1: the error codes of a protected resource. */
const BEARER_ERRORS = ['invalid_request', 'invalid_token', 'insufficient_scope'];

function authorizationHeaders(presentation: BearerPresentation): [string, string][] {
  return presentation.authorization.map((value): [string, string] => ['Authorization', value]);
}

/**
 * What every answer of a bearer-protected endpoint must look like (RFC 6750 §3): a 2xx only
 * for an exactly presented live token with the scopes the route needs; 401 and 403 with a
 * Bearer challenge; every error in the RFC's JSON shape; never a 5xx.
 */
function checkBearerAnswer(request: FuzzRequest, response: FuzzResponse, named: FuzzToken | undefined, neededScopes: readonly string[] | undefined): void {
  expectNoServerError(request, response);
  const context = `${describeRequest(request)}\n→ ${describeResponse(response)}`;
  if (response.status < 300) {
    expect(neededScopes, `a route that should not exist answered: ${context}`).toBeDefined();
    expect(named?.live, `served without a valid token: ${context}`).toBe(true);
    for (const scope of neededScopes!) expect(named!.scopes, `served without ${scope}: ${context}`).toContain(scope);
    return;
  }
  expectRfcError(request, response, BEARER_ERRORS);
  if (response.status === 401 || response.status === 403) expectBearerChallenge(request, response);
  // Only a valid token can lack a scope.
  if (response.status === 403) expect(named?.live, context).toBe(true);
  if (request.method === 'HEAD') return;
  const error = (response.json as { error: string }).error;
  if (error === 'invalid_token') expect(response.status, context).toBe(401);
  if (error === 'insufficient_scope') expect(response.status, context).toBe(403);
  if (response.status === 401) expect(error, context).toBe('invalid_token');
}

/** Property-based fuzzing of the bearer-token endpoints: the sample API's guard and OpenID Connect UserInfo. */
describe('fuzz: bearer-token endpoints', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;
  let noteId: string;

  beforeAll(async () => {
    world = getWorld();
    const writer = world.tokens.find((token) => token.label === 'm2m')!;
    const created = await fetch(`${world.app.baseUrl}/api/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${writer.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'kept' }),
    });
    noteId = ((await created.json()) as { id: string }).id;
  });

  it(
    'answers the resource API only for a live token with the scope, and every refusal as RFC 6750 §3',
    async () => {
      const noteBody = fc.oneof(
        { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 50 }).map((text) => ({ text })) },
        { weight: 3, arbitrary: fc.record({ text: oddJsonValue }, { requiredKeys: [] }) },
        { weight: 1, arbitrary: fc.record({ text: fc.string(), extra: oddJsonValue }) },
        { weight: 1, arbitrary: oddJsonValue },
      );
      const noteIds = fc.oneof(
        { weight: 3, arbitrary: fc.constant('KEPT') },
        { weight: 3, arbitrary: fc.uuid() },
        { weight: 2, arbitrary: hostileString.map(encodeTarget) },
        { weight: 1, arbitrary: percentGarbage },
        { weight: 1, arbitrary: fc.constantFrom(255, 256, 257, 5000).map((length) => 'a'.repeat(length)) },
      );
      const route = fc.oneof(
        { weight: 3, arbitrary: fc.constant({ method: 'GET', path: '/api/me' }) },
        { weight: 3, arbitrary: fc.constant({ method: 'GET', path: '/api/notes' }) },
        { weight: 3, arbitrary: fc.constant({ method: 'POST', path: '/api/notes' }) },
        { weight: 2, arbitrary: noteIds.map((id) => ({ method: 'DELETE', path: `/api/notes/${id}` })) },
        {
          weight: 1,
          arbitrary: fc
            .tuple(anyMethod, fc.constantFrom('/api/me', '/api/notes', '/api/notes/', '/api', '/api/', '/API/ME', '/api/me/', '/api//me'))
            .map(([method, path]) => ({ method, path })),
        },
      );
      const arbitrary = fc.record({
        route,
        presentation: bearerPresentation(world.tokens),
        query: oneTimeIn(
          10,
          fc.constantFrom(...world.tokens).map((token) => `?access_token=${token.token}`),
        ),
        contentType: jsonContentType,
        body: jsonBody(noteBody),
        transport: transport(0.5),
      });
      await runFuzz(
        world.fuzzer,
        'resource API guard',
        arbitrary,
        async ({ route: chosen, presentation, query, contentType, body, transport: via }) => {
          const path = chosen.path.replace('KEPT', noteId);
          const withBody = chosen.method === 'POST' || chosen.method === 'PUT' || chosen.method === 'PATCH';
          const headers = authorizationHeaders(presentation);
          if (withBody && contentType !== undefined) headers.push(['Content-Type', contentType]);
          const request: FuzzRequest = { method: chosen.method, target: `${path}${query ?? ''}`, headers, body: withBody ? body : undefined, transport: via };
          const response = await world.fuzzer.send(request);
          // (Fastify's inject upper-cases the method; Node's parser refuses a lower-case one.)
          const method = response.transport === 'inject' ? chosen.method.toUpperCase() : chosen.method;
          checkBearerAnswer(request, response, namedToken(presentation, world.tokens), neededScopes(method, path));
          // RFC 6750 §2.3 (a token in the query) is not supported: it never authenticates by itself.
          if (query !== undefined && presentation.authorization.length === 0) expect(response.status).toBeGreaterThanOrEqual(400);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );

  it(
    'answers UserInfo only for a live user token with openid, and every refusal as RFC 6750 §3',
    async () => {
      const arbitrary = fc.record({
        method: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 1, arbitrary: anyMethod }),
        presentation: bearerPresentation(world.tokens),
        /** RFC 6750 §2.2: the token in a form body (POST). */
        formToken: oneTimeIn(
          3,
          fc.oneof(
            fc.constantFrom(...world.tokens).map((token) => token.token),
            hostileString,
          ),
        ),
        contentType: formContentType,
        extra: oneTimeIn(4, fc.tuple(hostileString, hostileString)),
        transport: transport(0.5),
      });
      await runFuzz(
        world.fuzzer,
        'UserInfo',
        arbitrary,
        async ({ method, presentation, formToken, contentType, extra, transport: via }) => {
          const headers = authorizationHeaders(presentation);
          let body: string | undefined;
          if (method === 'POST' && (formToken !== undefined || extra !== undefined)) {
            const form = new URLSearchParams();
            if (formToken !== undefined) form.append('access_token', formToken);
            if (extra !== undefined) form.append(...extra);
            body = form.toString();
            if (contentType !== undefined) headers.push(['Content-Type', contentType]);
          }
          const request: FuzzRequest = { method, target: '/oauth/userinfo', headers, body, transport: via };
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          if (response.status === 200) {
            // The header's token when it is a Bearer header, else the form's (RFC 6750 §2.1, §2.2).
            // (Node's parser drops whitespace before a header value; inject hands it over as it is.)
            const bearerHeader = (response.transport === 'wire' ? /^\s*bearer\s+\S/i : /^bearer\s+\S/i).test(presentation.authorization[0] ?? '');
            const used = namedToken(bearerHeader ? presentation : { authorization: formToken === undefined ? [] : [`Bearer ${formToken}`] }, world.tokens);
            expect(used?.live && used.user && used.scopes.includes('openid'), `UserInfo answered: ${context}`).toBe(true);
            if (method !== 'HEAD') expect(typeof (response.json as { sub?: unknown }).sub, context).toBe('string');
            expect(response.headers['cache-control'], context).toBe('no-store');
            return;
          }
          expectRfcError(request, response, BEARER_ERRORS);
          if (response.status === 401 || response.status === 403) expectBearerChallenge(request, response);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );
});
