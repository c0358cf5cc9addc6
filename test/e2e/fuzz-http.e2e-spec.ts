import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { anyMethod, cookieHeader, encodeTarget, headerSafe, hostileString, malformedAuthorization, percentGarbage } from '../helpers/fuzz-arbitraries';
import { describeResponse, exchange, expectRfcError, FuzzRequest, fuzzTimeout, runFuzz } from '../helpers/fuzz';
import { exchangeOnce } from '../helpers/fuzz-http';
import { FuzzWorld, useFuzzWorld } from '../helpers/fuzz-world';

const FILE = 'test/e2e/fuzz-http.e2e-spec.ts';

/** Every error code Gatehouse has (src/common/oauth-error.ts): any endpoint may be reached here. */
const ALL_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_token',
  'insufficient_scope',
  'access_denied',
  'login_required',
  'unsupported_response_type',
  'unsupported_token_type',
  'invalid_client_metadata',
  'invalid_redirect_uri',
];

const PATHS = [
  '/',
  '/oauth/token',
  '/oauth/authorize',
  '/oauth/revoke',
  '/oauth/introspect',
  '/oauth/register',
  '/oauth/register/web',
  '/oauth/userinfo',
  '/oauth/logout',
  '/oauth/logout/confirm',
  '/oauth/check-session',
  '/login',
  '/consent',
  '/logout',
  '/account/session',
  '/account/consents',
  '/account/consents/web',
  '/account/sessions',
  '/account/sessions/00000000-0000-0000-0000-000000000000',
  '/account/grants',
  '/account/grants/x',
  '/api/me',
  '/api/notes',
  '/api/notes/00000000-0000-0000-0000-000000000000',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/.well-known/jwks.json',
  '/health',
  '/health/live',
  '/docs',
  '/docs/openapi.json',
  '/assets/gatehouse.css',
];

/** A path as written by someone who means harm or made a mistake. */
const path = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PATHS) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...PATHS),
        fc.constantFrom(
          (p: string) => `${p}/`,
          (p: string) => `/${p}`,
          (p: string) => p.toUpperCase(),
          (p: string) => p.replace(/\//g, '/./'),
          (p: string) => `${p}/../..${p}`,
          (p: string) => p.replace(/\//g, '%2F'),
          (p: string) => p.replace(/o/g, '%6f'),
          (p: string) => `${p};jsessionid=x`,
          (p: string) => `${p}?%`,
          (p: string) => `${p}#fragment`,
          (p: string) => `${p}%00`,
          (p: string) => `${p}%zz`,
          (p: string) => `http://evil.example${p}`,
          (p: string) => `${p}?${'a=b&'.repeat(3000)}`,
        ),
      )
      .map(([p, change]) => change(p)),
  },
  { weight: 1, arbitrary: fc.constantFrom('*', '/' + 'a'.repeat(9000), '/%', '/\\', '//evil.example/', '/.%2e/.%2e/') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...PATHS), hostileString, percentGarbage).map(([p, a, b]) => `${p}/${encodeTarget(a)}${b}`) },
);

/** Headers of every kind, well-formed at the byte level, odd in meaning. */
function headers(sessions: readonly string[]): fc.Arbitrary<[string, string][]> {
  const one = fc.oneof(
    fc.tuple(fc.constant('Authorization'), malformedAuthorization().map(headerSafe)),
    fc.tuple(
      fc.constant('Cookie'),
      cookieHeader(sessions).map((value) => headerSafe(value ?? '')),
    ),
    fc.tuple(
      fc.constantFrom(
        'Content-Type',
        'Accept',
        'Accept-Encoding',
        'Content-Encoding',
        'Origin',
        'Referer',
        'X-Forwarded-For',
        'X-Forwarded-Proto',
        'Host',
        'Expect',
        'Range',
        'If-None-Match',
        'Transfer-Encoding',
      ),
      hostileString.map(headerSafe),
    ),
    fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), hostileString.map(headerSafe)),
    fc.constantFrom<[string, string]>(
      ['Content-Type', 'application/json'],
      ['Content-Type', 'application/x-www-form-urlencoded'],
      ['X-Big', 'x'.repeat(17_000)],
      ['Connection', 'close'],
      ['Connection', 'upgrade'],
      ['Upgrade', 'websocket'],
    ),
  );
  return fc.array(one, { maxLength: 5 });
}

/** The wire bytes of a request broken in one of the ways request smuggling and parser bugs are made of. */
const brokenFraming = fc.constantFrom(
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
  'GET /health HTTP/1.1\nHost: x\n\n',
  'GET /health HTTP/1.1\r\nHost : x\r\n\r\n',
  'GET /health HTTP/1.1\r\nNo-Colon\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
  'GET /health HTTP/9.9\r\nHost: x\r\n\r\n',
  'GET /health HTTP/1.0\r\n\r\n',
  'GET /health\r\n\r\n',
  'GET  /health HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n',
  '\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: x\r\nX-Utf8: \u00e9\r\n\r\n',
  'CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\n\r\n',
  'GET /health HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAA\r\n\r\n',
);

/** Property-based fuzzing of the HTTP layer itself: any method, any path, any header, any bytes. */
describe('fuzz: HTTP layer (methods, paths, headers, raw bytes)', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;
  let port: number;

  beforeAll(async () => {
    world = getWorld();
    port = Number(new URL(world.app.baseUrl).port);
  });

  /** Any answer at all: below 500, never sniffed, and an error is RFC JSON or (for browser routes) a page. */
  const checkAnyAnswer = (request: FuzzRequest, response: Parameters<typeof expectRfcError>[1], context: string) => {
    expect(response.status, context).toBeLessThan(500);
    expect(response.headers['x-content-type-options'], context).toBe('nosniff');
    if (response.status < 400) return;
    if (/^text\/html/.test(response.headers['content-type'] ?? '')) {
      expect(response.headers['cache-control'], context).toMatch(/no-store/);
      return;
    }
    expectRfcError(request, response, ALL_ERRORS);
  };

  it(
    'answers any method on any path with any headers below 500, with RFC-shaped errors',
    async () => {
      const arbitrary = fc.record({
        method: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 2, arbitrary: anyMethod }),
        path,
        headers: headers(world.sessions),
        body: fc.oneof(
          fc.constant(undefined),
          hostileString,
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
        ),
      });
      await runFuzz(
        world.fuzzer,
        'any method, path and header',
        arbitrary,
        async ({ method, path: target, headers: list, body }) => {
          const request: FuzzRequest = { method, target: encodeTarget(target), headers: list, body, transport: 'wire' };
          const { response, context } = await exchange(world.fuzzer, request);
          checkAnyAnswer(request, response, context);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );

  it(
    'answers raw bytes, broken framing and mangled requests with an RFC-shaped 4xx or by closing, never a 5xx, and keeps serving',
    async () => {
      const valid = [
        'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials',
        'GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\n\r\n',
        'GET /oauth/authorize?client_id=web&response_type=code HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session=x\r\n\r\n',
      ];
      const flipped = fc
        .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
        .map(([text, flips]) => {
          const bytes = Buffer.from(text, 'latin1');
          for (const [position, value] of flips) bytes[position % bytes.length] = value;
          return bytes;
        });
      const truncated = fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([text, cut]) => Buffer.from(text.slice(0, cut % text.length), 'latin1'));
      const arbitrary = fc.oneof(
        { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 400 }).map((bytes) => Buffer.from(bytes)) },
        { weight: 3, arbitrary: flipped },
        { weight: 2, arbitrary: truncated },
        { weight: 3, arbitrary: brokenFraming.map((text) => Buffer.from(text, 'latin1')) },
      );
      await runFuzz(
        world.fuzzer,
        'raw bytes',
        arbitrary,
        async (bytes) => {
          // Each on a connection of its own: what the server makes of them, alone.
          const response = await world.fuzzer.sendRaw(bytes);
          if (!response) return; // closed without an answer: allowed for what is not a request at all
          const request: FuzzRequest = { method: 'RAW', target: JSON.stringify(bytes.toString('latin1').slice(0, 200)), headers: [], transport: 'wire' };
          checkAnyAnswer(request, response, `raw ${request.target}\n→ ${describeResponse(response)}`);
        },
        { file: FILE },
      );
      // And it still serves.
      const health = await exchangeOnce(port, Buffer.from('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      expect(health?.status).toBe(200);
    },
    fuzzTimeout(),
  );
});
