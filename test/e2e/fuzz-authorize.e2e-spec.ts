import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyMutations,
  cookieHeader,
  deepJson,
  encodePairs,
  encodeTarget,
  formContentType,
  headerSafe,
  hostileString,
  mixed,
  overlong,
  pairEncoding,
  pairMutations,
  Pairs,
} from '../helpers/fuzz-arbitraries';
import { exchange, expectRfcError, FuzzRequest, FuzzResponse, fuzzTimeout, refusedBeforeEndpoint, runFuzz, transport } from '../helpers/fuzz';
import { FuzzWorld, HYBRID_REDIRECT, SPA_REDIRECT, WEB_REDIRECTS, useFuzzWorld } from '../helpers/fuzz-world';

const FILE = 'test/e2e/fuzz-authorize.e2e-spec.ts';

/** RFC 6749 §4.1.2.1 / §4.2.2.1 and OpenID Connect Core §3.1.2.6: what an error redirect may carry (never server_error). */
const AUTHORIZATION_ERRORS = [
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'temporarily_unavailable',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
];
const RESPONSE_TYPES = [
  'code',
  'token',
  'id_token',
  'id_token token',
  'code id_token',
  'code token',
  'code id_token token',
  'token id_token',
  'none',
  'code code',
  'Code',
];

/** The entities Gatehouse's pages escape (src/pages/html.ts), back to their characters. */
const ENTITIES: Record<string, string> = { quot: '"', '#39': "'", lt: '<', gt: '>', amp: '&' };
const unescapeHtml = (value: string) => value.replace(/&(quot|#39|lt|gt|amp);/g, (_, name: string) => ENTITIES[name]);

/**
 * A query string's pairs as the server's parser reads them: `+` is a space, and a value
 * that does not percent-decode is kept as it was sent (URLSearchParams would turn it into
 * U+FFFD, and the echoed state would seem changed).
 */
function queryPairs(query: string): [string, string][] {
  const decode = (part: string) => {
    const spaced = part.replace(/\+/g, ' ');
    try {
      return decodeURIComponent(spaced);
    } catch {
      return spaced;
    }
  };
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const equals = pair.indexOf('=');
      return equals < 0 ? [decode(pair), ''] : [decode(pair.slice(0, equals)), decode(pair.slice(equals + 1))];
    });
}

/** Property-based fuzzing of the authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.2.1; OpenID Connect Core §3). */
describe('fuzz: authorization endpoint', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;

  beforeAll(async () => {
    world = getWorld();
  });

  /** Where the endpoint may send the browser for this request: the registered redirect URIs of the client it names. */
  const allowedTargets = (form: Map<string, string[]>): string[] => {
    const clientIds = form.get('client_id') ?? [];
    if (clientIds.length !== 1) return [];
    const registered = world.redirectUris.get(clientIds[0]) ?? [];
    const asked = form.get('redirect_uri');
    if (asked === undefined) return registered.length === 1 ? registered : [];
    return asked.length === 1 && registered.includes(asked[0]) ? asked : [];
  };

  /** RFC 6749 §4.1.2 / §4.1.2.1 with RFC 9207: what a redirect back to the client must carry. */
  const checkRedirectParams = (params: URLSearchParams, form: Map<string, string[]>, context: string) => {
    expect(params.get('iss'), context).toBe(world.issuer);
    const state = form.get('state');
    if (state?.length === 1 && state[0] !== '') expect(params.get('state'), context).toBe(state[0]);
    const error = params.get('error');
    if (error !== null) {
      expect(AUTHORIZATION_ERRORS, context).toContain(error);
      expect(params.get('error_description') ?? '', context).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
    } else {
      const parts = (form.get('response_type')?.[0] ?? '').split(' ');
      if (parts.includes('code')) expect(params.get('code'), context).toMatch(/^[\w-]{20,}$/);
      if (parts.includes('token')) expect(params.get('access_token'), context).toBeTruthy();
    }
  };

  /** What any answer of the authorization endpoint must be. */
  const checkAnswer = (request: FuzzRequest, response: FuzzResponse, form: Map<string, string[]>, context: string) => {
    const targets = allowedTargets(form);
    if (response.status >= 300 && response.status < 400) {
      // Never to a URI that is not registered, exactly, for the client the request names.
      const location = response.headers.location ?? '';
      const target = targets.find((uri) => location.startsWith(uri) && ['', '?', '#', '&'].includes(location.charAt(uri.length)));
      expect(target, `redirected to an unregistered URI: ${context}`).toBeDefined();
      expect(response.headers['cache-control'], context).toBe('no-store');
      const url = new URL(location);
      checkRedirectParams(new URLSearchParams(url.hash ? url.hash.slice(1) : url.search), form, context);
      return;
    }
    if (/^text\/html/.test(response.headers['content-type'] ?? '')) {
      expect([200, 400], context).toContain(response.status);
      expect(response.headers['cache-control'], context).toMatch(/no-store/);
      const html = response.text;
      // form_post (OAuth 2.0 Form Post Response Mode): only to the registered redirect URI.
      const action = /<form method="post" action="([^"]*)">/.exec(html)?.[1];
      if (html.includes('data-page="form-post"')) {
        expect(targets, `a form post to an unregistered URI: ${context}`).toContain(unescapeHtml(action ?? ''));
        const params = new URLSearchParams();
        for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
          params.append(unescapeHtml(match[1]), unescapeHtml(match[2]));
        checkRedirectParams(params, form, context);
      }
      // Nothing the request sent comes back as markup (values long enough not to occur in the page by chance).
      for (const values of form.values()) {
        for (const value of values) if (value.length >= 12 && /<[a-z/!]/i.test(value)) expect(html, `unescaped input: ${context}`).not.toContain(value);
      }
      return;
    }
    expectRfcError(request, response, ['invalid_request']);
    // A request that names a client and its redirect URI gets its errors there (RFC 6749 §4.1.2.1):
    // JSON only for what is refused before the endpoint runs (size limits, media type).
    if (targets.length > 0 && (request.method === 'GET' || request.method === 'POST') && !refusedBeforeEndpoint(response)) {
      expect(response.status, `a JSON error instead of a redirect: ${context}`).toBe(415);
    }
  };

  it(
    'never redirects to a URI the client did not register, and answers every request with a redirect, a page, or an RFC error',
    async () => {
      const { pkce } = world;
      const code = (clientId: string, redirect: string | undefined): Pairs => [
        ['client_id', clientId],
        ...(redirect ? [['redirect_uri', redirect] as [string, string]] : []),
        ['response_type', 'code'],
        ['scope', 'openid notes:read'],
        ['state', 'st-1'],
        ['code_challenge', pkce.challenge],
        ['code_challenge_method', 'S256'],
      ];
      const baseline = fc.constantFrom<Pairs>(
        code('web', WEB_REDIRECTS[0]),
        code('web', WEB_REDIRECTS[1]),
        code('spa', SPA_REDIRECT),
        code('spa', undefined),
        [
          ['client_id', 'hybrid'],
          ['redirect_uri', HYBRID_REDIRECT],
          ['response_type', 'code id_token token'],
          ['scope', 'openid profile'],
          ['nonce', 'n-1'],
          ['state', 'st-2'],
          ['code_challenge', pkce.challenge],
          ['code_challenge_method', 'S256'],
          ['response_mode', 'form_post'],
        ],
        [
          ['client_id', 'hybrid'],
          ['redirect_uri', HYBRID_REDIRECT],
          ['response_type', 'token'],
          ['scope', 'notes:read'],
          ['state', 'st-3'],
        ],
      );
      const redirectUris = [...WEB_REDIRECTS, SPA_REDIRECT, HYBRID_REDIRECT];
      const nearMissRedirects = redirectUris.flatMap((uri) => [
        `${uri}/`,
        `${uri}#x`,
        `${uri}?x=1`,
        uri.replace('http', 'HTTP'),
        uri.replace(/:\/\/[^/]+/, '://evil.example'),
        `${uri}/../evil`,
      ]);
      const fields = {
        client_id: mixed(['web', 'spa', 'hybrid', 'm2m', 'app']),
        redirect_uri: mixed(
          redirectUris,
          fc.oneof(fc.constantFrom(...nearMissRedirects, 'javascript:alert(1)', '//evil.example', 'https://evil.example/cb'), hostileString),
        ),
        response_type: mixed(RESPONSE_TYPES),
        response_mode: mixed(['query', 'fragment', 'form_post', 'web_message', 'jwt']),
        scope: mixed(['openid', 'openid profile email offline_access', 'notes:read', 'admin', 'openid openid']),
        state: mixed(['st-1']),
        nonce: mixed(['n-1']),
        code_challenge: mixed([pkce.challenge, 'short', 'a'.repeat(129)]),
        code_challenge_method: mixed(['S256', 'plain', 's256']),
        prompt: mixed(['none', 'login', 'consent', 'select_account', 'none login', 'login consent']),
        max_age: mixed(['0', '60', '999999999', '-1', '1e3', '1.5']),
        login_hint: hostileString,
        id_token_hint: mixed(['eyJhbGciOiJub25lIn0.e30.', world.tokens[0].token]),
        claims: fc.oneof(
          fc.constantFrom(
            '{"userinfo":{"email":null}}',
            '{"id_token":{"acr":{"essential":true}}}',
            '{"userinfo":[]}',
            '[]',
            '{',
            '{"a":"\\u0000"}',
            '{"a":"\\ud800"}',
            '{"userinfo":{"\\u0000":null}}',
          ),
          deepJson,
          hostileString,
        ),
        request: hostileString,
        request_uri: mixed(['https://evil.example/request.jwt']),
        registration: hostileString,
        ui_locales: hostileString,
        display: mixed(['page', 'popup', 'touch', 'wap']),
      };
      const arbitrary = fc.record({
        method: fc.oneof(
          { weight: 6, arbitrary: fc.constant('GET') },
          { weight: 2, arbitrary: fc.constant('POST') },
          { weight: 1, arbitrary: fc.constantFrom('HEAD', 'PUT', 'OPTIONS') },
        ),
        baseline,
        mutations: pairMutations(fields),
        encoding: pairEncoding,
        contentType: formContentType,
        // Signed in most of the time: the paths that issue codes and tokens need a session.
        cookie: fc.oneof(
          { weight: 2, arbitrary: fc.constantFrom(...world.sessions).map((value) => `gatehouse_session=${value}`) },
          { weight: 1, arbitrary: cookieHeader(world.sessions) },
        ),
        longQuery: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: overlong }),
        transport: transport(0.3),
      });
      await runFuzz(
        world.fuzzer,
        'authorization endpoint',
        arbitrary,
        async ({ method, baseline: valid, mutations, encoding, contentType, cookie, longQuery, transport: via }) => {
          const list = applyMutations(valid, mutations);
          if (longQuery !== undefined) list.push(['padding', longQuery]);
          const encoded = encodePairs(list, encoding);
          const headers: [string, string][] = cookie !== undefined ? [['Cookie', headerSafe(cookie)]] : [];
          const asForm = method === 'POST';
          if (asForm && contentType !== undefined) headers.push(['Content-Type', contentType]);
          const request: FuzzRequest = {
            method,
            target: asForm ? '/oauth/authorize' : `/oauth/authorize?${encodeTarget(encoded)}`,
            headers,
            body: asForm ? encoded : undefined,
            transport: via,
          };
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          const parsed: [string, string][] = asForm
            ? /^application\/x-www-form-urlencoded/i.test(contentType ?? '')
              ? [...new URLSearchParams(encoded)]
              : []
            : queryPairs(new URL(request.target, 'http://x').search.slice(1)); // (a raw # starts a fragment, which is no parameter)
          const form = new Map<string, string[]>();
          for (const [name, value] of parsed) if (value !== '') form.set(name, [...(form.get(name) ?? []), value]);
          checkAnswer(request, response, form, context);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );
});
