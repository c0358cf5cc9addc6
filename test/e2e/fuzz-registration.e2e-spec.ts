import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  anyMethod,
  encodeTarget,
  headerSafe,
  hostileString,
  jsonBody,
  jsonContentType,
  malformedAuthorization,
  oddJsonValue,
  percentGarbage,
} from '../helpers/fuzz-arbitraries';
import { exchange, expectBearerChallenge, expectRfcError, FuzzRequest, fuzzTimeout, refusedBeforeEndpoint, runFuzz, transport } from '../helpers/fuzz';
import { FuzzWorld, useFuzzWorld } from '../helpers/fuzz-world';

const FILE = 'test/e2e/fuzz-registration.e2e-spec.ts';
const INITIAL_ACCESS_TOKEN = 'fuzz-initial-access-token-0123456789';

/** RFC 7591 §3.2.2, RFC 7592 §2 (RFC 6750 for the tokens), and invalid_request for what is not JSON. */
const REGISTRATION_ERRORS = [
  'invalid_request',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  'invalid_token',
];
const FORBIDDEN_SCHEMES = ['javascript:', 'data:', 'file:', 'vbscript:'];

/** A client registered through the endpoint, with its registration access token. */
interface Managed {
  clientId: string;
  token: string;
  deleted: boolean;
}

/** A value that is usually one of `valid`, else any JSON value at all. */
const field = (...valid: unknown[]) => fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: oddJsonValue });

const redirectUri = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'https://app.example.com/cb',
      'http://127.0.0.1:8080/cb',
      'http://localhost/cb',
      'https://app.example.com/cb?x=1',
      'com.example.app:/cb',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'https://app.example.com/cb#frag',
      'http://app.example.com/cb',
      'javascript:alert(1)',
      'data:text/html,x',
      'file:///etc/passwd',
      '/relative',
      'https://',
      'https://app.example.com/%zz',
      'HTTPS://APP.EXAMPLE.COM/CB',
      'https://[::1]/cb',
      'https://app.example.com:99999/cb',
    ),
  },
  { weight: 1, arbitrary: fc.webUrl({ withFragments: true, withQueryParameters: true }) },
  { weight: 1, arbitrary: hostileString },
);

/** Arrays of redirect URIs: usual, empty, duplicated, not strings, and thousands long (the limit is 100 per client). */
const redirectUris = fc.oneof(
  { weight: 6, arbitrary: fc.array(redirectUri, { minLength: 1, maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(1, 99, 100, 101, 3000).map((count) => Array.from({ length: count }, (_, index) => `https://app.example.com/cb/${index}`)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      [],
      ['https://app.example.com/cb', 'https://app.example.com/cb'],
      [1, 2],
      [null],
      [['https://app.example.com/cb']],
      'https://app.example.com/cb',
    ),
  },
  { weight: 1, arbitrary: oddJsonValue },
);

function jwks(): unknown[] {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return [
    { keys: [publicKey.export({ format: 'jwk' })] },
    { keys: [privateKey.export({ format: 'jwk' })] },
    { keys: [{}] },
    { keys: 'nope' },
    { keys: Array.from({ length: 200 }, () => publicKey.export({ format: 'jwk' })) },
  ];
}

/** RFC 7591 §2 client metadata fields, each with mostly sensible values and now and then anything. */
function metadataFields(): Record<string, fc.Arbitrary<unknown>> {
  return {
    client_name: field('Fuzzed app', '', 'a'.repeat(201), 'é\u0000"<b>'),
    redirect_uris: redirectUris,
    grant_types: field(
      ['authorization_code'],
      ['client_credentials'],
      ['authorization_code', 'refresh_token'],
      ['implicit'],
      ['password'],
      ['urn:x:y'],
      ['nope'],
      [],
    ),
    response_types: field(['code'], ['token'], ['code id_token'], ['none'], [], ['bogus']),
    token_endpoint_auth_method: field('client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt', 'tls_client_auth'),
    scope: field('openid', 'notes:read notes:write', 'openid profile email offline_access', '', '"bad"'),
    contacts: field(
      ['ops@example.com'],
      [],
      [''],
      Array.from({ length: 500 }, () => 'x@example.com'),
    ),
    logo_uri: field('https://app.example.com/logo.png', 'javascript:x'),
    client_uri: field('https://app.example.com/'),
    jwks: field(...jwks()),
    jwks_uri: field('https://127.0.0.1:1/jwks', 'http://127.0.0.1:1/jwks'),
    subject_type: field('public', 'pairwise', 'other'),
    sector_identifier_uri: field('https://127.0.0.1:1/sector', 'http://localhost:1/sector', 'ftp://x/y'),
    id_token_signed_response_alg: field('RS256', 'ES256', 'HS256', 'none', 'EdDSA'),
    userinfo_signed_response_alg: field('ES256', 'none'),
    id_token_encrypted_response_alg: field('RSA-OAEP-256', 'dir', 'A256KW', 'RSA1_5'),
    id_token_encrypted_response_enc: field('A256GCM', 'A128CBC-HS256', 'nope'),
    post_logout_redirect_uris: field(['https://app.example.com/bye'], ['javascript:x']),
    backchannel_logout_uri: field('https://app.example.com/bc', 'https://app.example.com/bc#f'),
    frontchannel_logout_uri: field('https://app.example.com/fc'),
    allowed_cors_origins: field(['https://app.example.com'], ['https://app.example.com/path'], ['http://evil.example']),
    access_token_ttl: field(30, 3600, 86400, 29, 86401, 1.5, '60'),
    first_party: field(false, true),
    audience: field([], ['https://other.example']),
    require_pkce: field(true, false),
    allow_plain_pkce: field(false, true),
    client_id: field('chosen-id'),
    client_secret: field('chosen-secret'),
    software_statement: field('eyJhbGciOiJub25lIn0.e30.'),
    unknown_field: oddJsonValue,
  };
}

/** A valid registration whose jwks holds a value nested thousands deep (written as text: stringify would recurse). */
const deepInsideRegistration = fc
  .constantFrom(33, 1000, 20_000)
  .map((depth) => `{"redirect_uris":["https://app.example.com/cb"],"jwks":{"keys":[{"kty":"EC","x5c":${'['.repeat(depth)}${']'.repeat(depth)}}]}}`);

/** Registrations that succeed as they are: the starting points the mutations break. */
const VALID_METADATA: Record<string, unknown>[] = [
  { client_name: 'Web', redirect_uris: ['https://app.example.com/cb'] },
  { grant_types: ['client_credentials'], response_types: [], scope: 'notes:read' },
  { redirect_uris: ['http://127.0.0.1:8080/cb'], token_endpoint_auth_method: 'none', scope: 'openid' },
  {
    redirect_uris: ['https://app.example.com/cb', 'https://app.example.com/other'],
    grant_types: ['authorization_code', 'implicit', 'refresh_token'],
    response_types: ['code', 'code id_token', 'id_token'],
    id_token_signed_response_alg: 'ES256',
    post_logout_redirect_uris: ['https://app.example.com/bye'],
    backchannel_logout_uri: 'https://app.example.com/bc',
    allowed_cors_origins: ['https://app.example.com'],
    access_token_ttl: 600,
  },
];

/** Client metadata: a valid registration with none to a few fields set to anything, or removed. */
function metadata(): fc.Arbitrary<Record<string, unknown>> {
  const fields = metadataFields();
  const change = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...Object.keys(fields)).chain((name) => fields[name].map((value) => ({ name, value, remove: false }))) },
    { weight: 1, arbitrary: fc.constantFrom(...Object.keys(fields)).map((name) => ({ name, value: undefined as unknown, remove: true })) },
  );
  const changes = fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(change, { minLength: 1, maxLength: 3 }) });
  return fc.tuple(fc.constantFrom(...VALID_METADATA), changes).map(([base, list]) => {
    const result: Record<string, unknown> = { ...base };
    for (const { name, value, remove } of list) {
      if (remove) delete result[name];
      else result[name] = value;
    }
    return result;
  });
}

/** Property-based fuzzing of dynamic client registration (RFC 7591) and client management (RFC 7592). */
describe('fuzz: dynamic client registration', () => {
  const getWorld = useFuzzWorld({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN });
  let world: FuzzWorld;
  const managed: Managed[] = [];

  beforeAll(async () => {
    world = getWorld();
    for (let index = 0; index < 3; index++) {
      const response = await fetch(`${world.app.baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` },
        body: JSON.stringify({ client_name: `managed ${index}`, redirect_uris: ['https://app.example.com/cb'] }),
      });
      const body = (await response.json()) as { client_id: string; registration_access_token: string };
      managed.push({ clientId: body.client_id, token: body.registration_access_token, deleted: false });
    }
  });

  /** Which managed client a request names and whether it carries that client's token; resolved when the request is sent. */
  const target = fc.oneof(
    { weight: 6, arbitrary: fc.nat().map((index) => ({ kind: 'managed' as const, index })) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(hostileString.map(encodeTarget), percentGarbage, fc.constantFrom('unknown-client', 'a'.repeat(300), ''))
        .map((id) => ({ kind: 'raw' as const, id })),
    },
  );
  const authorization = fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'own' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'other' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'initial' as const }) },
    { weight: 2, arbitrary: malformedAuthorization().map((value) => ({ kind: 'raw' as const, value: headerSafe(value) })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  );

  it(
    'registers, reads, replaces and deletes clients only as RFC 7591 and RFC 7592 allow, and answers every refusal in their shape',
    async () => {
      const arbitrary = fc.record({
        method: fc.oneof(
          { weight: 4, arbitrary: fc.constant('POST') },
          { weight: 5, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE') },
          { weight: 1, arbitrary: anyMethod },
        ),
        target,
        authorization,
        /** What a POST carries: the initial access token or not. */
        initial: fc.oneof(
          { weight: 6, arbitrary: fc.constant(`Bearer ${INITIAL_ACCESS_TOKEN}`) },
          { weight: 1, arbitrary: malformedAuthorization().map(headerSafe) },
          { weight: 1, arbitrary: fc.constant(undefined) },
        ),
        contentType: jsonContentType,
        body: fc.oneof({ weight: 20, arbitrary: jsonBody(metadata()) }, { weight: 1, arbitrary: deepInsideRegistration }),
        /** For PUT: the client_id the body carries (RFC 7592 §2.2 requires it). */
        updateId: fc.oneof(
          { weight: 6, arbitrary: fc.constant('own') },
          { weight: 1, arbitrary: fc.constant('other') },
          { weight: 1, arbitrary: fc.constant(undefined) },
        ),
        transport: transport(0.25),
      });
      await runFuzz(
        world.fuzzer,
        'registration endpoints',
        arbitrary,
        async ({ method, target: named, authorization: auth, initial, contentType, body, updateId, transport: via }) => {
          const live = managed.filter((client) => !client.deleted);
          const client = named.kind === 'managed' && live.length > 0 ? live[named.index % live.length] : undefined;
          const other = managed.find((candidate) => candidate !== client);
          const headers: [string, string][] = [];
          let path = '/oauth/register';
          if (method === 'POST') {
            if (initial !== undefined) headers.push(['Authorization', initial]);
          } else {
            path += `/${client ? client.clientId : named.kind === 'raw' ? named.id : 'none-left'}`;
            const value =
              auth.kind === 'own'
                ? client
                  ? `Bearer ${client.token}`
                  : undefined
                : auth.kind === 'other'
                  ? `Bearer ${other?.token}`
                  : auth.kind === 'initial'
                    ? `Bearer ${INITIAL_ACCESS_TOKEN}`
                    : auth.kind === 'raw'
                      ? auth.value
                      : undefined;
            if (value !== undefined) headers.push(['Authorization', value]);
          }
          let payload: string | Buffer | undefined = method === 'POST' || method === 'PUT' ? body : undefined;
          if (method === 'PUT' && typeof body === 'string' && updateId !== undefined) {
            // RFC 7592 §2.2: the update names the client it replaces.
            try {
              const parsed = JSON.parse(body) as unknown;
              if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
                payload = JSON.stringify({ ...parsed, client_id: updateId === 'own' ? client?.clientId : other?.clientId });
              }
            } catch {
              // not JSON: sent as it is
            }
          }
          if (payload !== undefined && contentType !== undefined) headers.push(['Content-Type', contentType]);
          const request: FuzzRequest = { method, target: path, headers, body: payload, transport: via };
          const { response, context, preflight } = await exchange(world.fuzzer, request);
          if (preflight) return;
          const result = response.json as Record<string, unknown>;
          const usedOwnToken =
            client !== undefined && headers.some(([name, value]) => name === 'Authorization' && /^\s*bearer\s+(\S+)\s*$/i.exec(value)?.[1] === client.token);

          if (response.status < 300) {
            expect(response.headers['cache-control'], context).toBe('no-store');
            if (method === 'POST') {
              expect(response.status, context).toBe(201);
              expect(initial, `registered without the initial access token: ${context}`).toBe(`Bearer ${INITIAL_ACCESS_TOKEN}`);
              expectSafeRegistration(result, context);
              const clientId = result.client_id as string;
              expect(result.registration_client_uri, context).toBe(`${world.issuer}/oauth/register/${encodeURIComponent(clientId)}`);
              managed.push({ clientId, token: result.registration_access_token as string, deleted: false });
              return;
            }
            expect(usedOwnToken, `managed without the client's registration access token: ${context}`).toBe(true);
            if (method === 'DELETE') {
              expect(response.status, context).toBe(204);
              client!.deleted = true;
            } else if (method !== 'HEAD') {
              expect(result.client_id, context).toBe(client!.clientId);
              if (method === 'PUT') expectSafeRegistration(result, context);
            }
            return;
          }
          expectRfcError(request, response, REGISTRATION_ERRORS);
          if (response.status === 401) expectBearerChallenge(request, response);
          if (method === 'HEAD') return;
          const error = result.error as string;
          if (error === 'invalid_token') expect(response.status, context).toBe(401);
          if (response.status === 401) expect(error, context).toBe('invalid_token');
          // A registered client answers any token but its own with 401, as an unknown client does
          // (what the HTTP limits refuse comes first, and a PUT body is parsed before the token is checked).
          const refusedFirst = refusedBeforeEndpoint(response) || (method === 'PUT' && [400, 415].includes(response.status));
          if (client && !usedOwnToken && ['GET', 'PUT', 'DELETE'].includes(method) && !refusedFirst) expect(response.status, context).toBe(401);
        },
        { file: FILE },
      );
    },
    fuzzTimeout(),
  );
});

/**
 * What a registration (or replacement) may never end with: a redirect URI with a fragment
 * or a dangerous scheme, privileges only an administrator grants, or a public client with
 * a secret (RFC 7591 §2, §5; RFC 9700 §2.1).
 */
function expectSafeRegistration(result: Record<string, unknown>, context: string): void {
  expect(typeof result.client_id, context).toBe('string');
  expect(typeof result.registration_access_token, context).toBe('string');
  for (const uri of [...((result.redirect_uris as string[] | undefined) ?? []), ...((result.post_logout_redirect_uris as string[] | undefined) ?? [])]) {
    expect(uri, context).not.toContain('#');
    expect(
      FORBIDDEN_SCHEMES.some((scheme) => uri.toLowerCase().startsWith(scheme)),
      context,
    ).toBe(false);
  }
  expect((result.redirect_uris as unknown[] | undefined)?.length ?? 0, context).toBeLessThanOrEqual(100);
  expect(result.first_party === true, context).toBe(false);
  expect((result.audience as unknown[] | undefined)?.length ?? 0, context).toBe(0);
  expect(result.require_pkce === false, context).toBe(false);
  if (result.token_endpoint_auth_method === 'none') expect(result.client_secret, context).toBeUndefined();
}
