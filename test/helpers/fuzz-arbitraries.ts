import fc from 'fast-check';
import type { FuzzRequest, Transport } from './fuzz';
import type { FuzzToken } from './fuzz-world';

/**
 * Structure-aware generators for the fuzz specs: each mixes well-formed values (real
 * clients, users and tokens, passed in by the spec) with wrong, malformed and hostile ones,
 * so that a run reaches both the deep paths of an endpoint and its refusals.
 */

/** A value of `arbitrary` one time in `n`, else undefined. */
export function oneTimeIn<T>(n: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

/** Values that have broken parsers before: empty, NUL, percent garbage, prototype names, unicode edge cases. */
export const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '%FF%FE',
  '%C0%AF',
  '%u0041',
  '+',
  '&',
  '=',
  '==',
  ';',
  '\t',
  '\r\n',
  '\n',
  '"',
  "'",
  '\\',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'null',
  'undefined',
  'true',
  'NaN',
  '-1',
  '0',
  '1e309',
  '99999999999999999999999999',
  '[]',
  '{}',
  '[object Object]',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\u00e9',
  '\u{1d54f}',
  '../../etc/passwd',
  '/',
  '//',
  'a b',
  'a\u0000b',
];

/** Lengths around every limit: parameter (4096), client id (128, 256), body (64 KiB). */
const LONG_LENGTHS = [127, 128, 129, 255, 256, 257, 4095, 4096, 4097, 8192, 20_000];

/** A long run of one character, around the limits. */
export const overlong: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...LONG_LENGTHS), fc.constantFrom('a', '%', 'é', '0', '=', '&', ' ', '\u{1f600}'))
  .map(([length, char]) => char.repeat(length));

/** Percent-encoded random bytes, often not UTF-8, sometimes cut in the middle of an escape. */
export const percentGarbage: fc.Arbitrary<string> = fc.tuple(fc.uint8Array({ maxLength: 12 }), fc.boolean()).map(([bytes, cut]) => {
  const encoded = [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  return cut && encoded.length > 1 ? encoded.slice(0, -1) : encoded;
});

/** Any hostile string: printable, unicode (lone surrogates included), control characters, special, overlong. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: percentGarbage },
  { weight: 1, arbitrary: overlong },
);

/** Mostly `valid`, or a near miss of one of them (case, padding, a character more or less), or anything hostile. */
export function mixed(valid: readonly string[], extra: fc.Arbitrary<string> = hostileString): fc.Arbitrary<string> {
  const real = fc.constantFrom(...valid);
  const nearMiss = fc.tuple(real, fc.constantFrom('upper', 'pad', 'append', 'truncate', 'nul', 'double')).map(([value, how]) => {
    switch (how) {
      case 'upper':
        return value.toUpperCase();
      case 'pad':
        return ` ${value} `;
      case 'append':
        return `${value}x`;
      case 'truncate':
        return value.slice(0, -1);
      case 'nul':
        return `${value}\u0000`;
      default:
        return `${value}${value}`;
    }
  });
  return fc.oneof({ weight: 5, arbitrary: real }, { weight: 2, arbitrary: nearMiss }, { weight: 2, arbitrary: extra });
}

/** A list of name/value pairs as a form or query carries them (order, repetition and extras included). */
export type Pairs = [string, string][];

/** One change to a well-formed list of parameters. */
export type PairMutation =
  { kind: 'set'; name: string; value: string } | { kind: 'drop'; index: number } | { kind: 'repeat'; index: number } | { kind: 'many'; count: number };

/**
 * Changes to a valid request's parameters: a known field set to any of its values (right or
 * wrong), an extra parameter with a hostile name, a parameter dropped or repeated, or
 * enough parameters to pass the count limit (64). Often none at all.
 */
export function pairMutations(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<PairMutation[]> {
  const names = Object.keys(fields);
  const set = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...names).chain((name) => fields[name].map((value): PairMutation => ({ kind: 'set', name, value }))) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...names), hostileString).map(([name, value]): PairMutation => ({ kind: 'set', name, value })) },
    { weight: 1, arbitrary: fc.tuple(hostileString, hostileString).map(([name, value]): PairMutation => ({ kind: 'set', name, value })) },
  );
  const mutation = fc.oneof(
    { weight: 6, arbitrary: set },
    { weight: 2, arbitrary: fc.nat().map((index): PairMutation => ({ kind: 'drop', index })) },
    { weight: 1, arbitrary: fc.nat().map((index): PairMutation => ({ kind: 'repeat', index })) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 120 }).map((count): PairMutation => ({ kind: 'many', count })) },
  );
  return fc.oneof({ weight: 2, arbitrary: fc.constant<PairMutation[]>([]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) });
}

/** Applies mutations in order; `set` replaces the first parameter of that name, or adds one. */
export function applyMutations(original: Pairs, mutations: readonly PairMutation[]): Pairs {
  const list: Pairs = original.map(([name, value]) => [name, value]);
  for (const mutation of mutations) {
    if (mutation.kind === 'set') {
      const existing = list.find(([name]) => name === mutation.name);
      if (existing) existing[1] = mutation.value;
      else list.push([mutation.name, mutation.value]);
    } else if (mutation.kind === 'drop') {
      if (list.length > 0) list.splice(mutation.index % list.length, 1);
    } else if (mutation.kind === 'repeat') {
      if (list.length > 0) list.push([...list[mutation.index % list.length]]);
    } else {
      for (let index = 0; index < mutation.count; index++) list.push([`p${index}`, 'x']);
    }
  }
  return list;
}

/** How a list of pairs is written into a body or query. */
export type PairEncoding = 'standard' | 'raw' | 'percent-everything' | 'semicolons';

export const pairEncoding: fc.Arbitrary<PairEncoding> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<PairEncoding>('standard') },
  { weight: 2, arbitrary: fc.constantFrom<PairEncoding>('raw', 'percent-everything', 'semicolons') },
);

/** Writes pairs as application/x-www-form-urlencoded (or a mangled variant of it). */
export function encodePairs(list: Pairs, encoding: PairEncoding): string {
  switch (encoding) {
    case 'standard':
      return list.map(([name, value]) => `${encodeURIComponent(safe(name))}=${encodeURIComponent(safe(value))}`).join('&');
    case 'raw':
      return list.map(([name, value]) => `${name}=${value}`).join('&');
    case 'percent-everything':
      return list
        .map(([name, value]) =>
          [name, value].map((part) => [...Buffer.from(part, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')).join('='),
        )
        .join('&');
    case 'semicolons':
      return list.map(([name, value]) => `${encodeURIComponent(safe(name))}=${encodeURIComponent(safe(value))}`).join(';');
  }
}

/** encodeURIComponent throws on lone surrogates: make them well-formed (they are tested raw elsewhere). */
function safe(value: string): string {
  return value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export const FORM = 'application/x-www-form-urlencoded';

/** Content types for a form endpoint: mostly right, else wrong, odd, missing, or with strange charsets. */
export const formContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(FORM) },
  {
    weight: 6,
    arbitrary: fc.constantFrom<string | undefined>(
      `${FORM}; charset=UTF-8`,
      `${FORM};charset=utf-8`,
      'APPLICATION/X-WWW-FORM-URLENCODED',
      `${FORM}; charset=ISO-8859-1`,
      `${FORM}; charset=utf-16`,
      `${FORM}; charset="`,
      `${FORM}; boundary=x`,
      `${FORM}, application/json`,
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'text/plain; charset=utf-8',
      'multipart/form-data; boundary=----x',
      'application/xml',
      'application/octet-stream',
      '*/*',
      '',
      ';',
      ';;;',
      'application/',
      '/',
      undefined,
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

/** Content types for a JSON endpoint. */
export const jsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 6,
    arbitrary: fc.constantFrom<string | undefined>(
      'application/json; charset=utf-8',
      'application/json; charset=UTF-16',
      'application/json; charset=latin1',
      'APPLICATION/JSON',
      'application/json;',
      'application/jsonx',
      'application/json, text/plain',
      'application/jwt',
      'application/merge-patch+json',
      FORM,
      'text/plain',
      'text/json',
      'multipart/form-data; boundary=x',
      '',
      ';',
      undefined,
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

/** Deeply nested arrays and objects, as text (JSON.stringify would recurse). */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(10, 40, 100, 1000, 10_000), fc.constantFrom('array', 'object', 'mixed'))
  .map(([depth, shape]) => {
    const open = shape === 'array' ? '[' : shape === 'object' ? '{"a":' : '{"a":[';
    const close = shape === 'array' ? ']' : shape === 'object' ? '}' : ']}';
    return `${open.repeat(depth)}1${close.repeat(depth)}`;
  });

/** Any JSON value, with some of the odd ones: huge numbers, long strings, prototype keys. */
export const oddJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, '', [], {}, [[]], { __proto__: null }) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 5 }) },
);

/** A JSON body: what `value` serialises to, or invalid / deep / binary text instead. */
export function jsonBody(value: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer> {
  return fc.oneof(
    { weight: 12, arbitrary: value.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: value.map((v) => `\ufeff${JSON.stringify(v)}`) },
    { weight: 1, arbitrary: value.map((v) => (JSON.stringify(v) ?? 'null').slice(0, -1)) },
    { weight: 1, arbitrary: deepJson },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        ' ',
        'null',
        '[]',
        '"string"',
        '1',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"admin":true}}}',
        '{"a":1,"a":2}',
        '{"a":"\\ud800"}',
        '{"a":1}garbage',
        '{',
        '}',
        '\u0000',
        'NaN',
      ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.constantFrom(70 * 1024).map((size) => `{"client_name":"${'a'.repeat(size)}"}`) },
  );
}

/** One way of presenting client credentials: headers and form parameters, and whether they are a registered client's real ones. */
export interface ClientCredentials {
  headers: [string, string][];
  params: Pairs;
  /** True when this is exactly one registered client's valid authentication. */
  valid: boolean;
  /** That client, when valid. */
  clientId?: string;
}

export interface KnownClient {
  id: string;
  /** Undefined for a public client. */
  secret?: string;
}

const basicOf = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`;
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/** A client's correct authentication: Basic or form parameters for a confidential client, its client_id alone for a public one. */
export function validCredentials(client: KnownClient, method: 'basic' | 'post' = 'basic'): ClientCredentials {
  const valid = { valid: true, clientId: client.id };
  if (client.secret === undefined) return { headers: [], params: [['client_id', client.id]], ...valid };
  if (method === 'post')
    return {
      headers: [],
      params: [
        ['client_id', client.id],
        ['client_secret', client.secret],
      ],
      ...valid,
    };
  return { headers: [['Authorization', basicOf(formEncode(client.id), formEncode(client.secret))]], params: [], ...valid };
}

/** Client authentication of every shape (RFC 6749 §2.3.1): right, wrong, malformed, missing, doubled. */
export function clientCredentials(clients: readonly KnownClient[]): fc.Arbitrary<ClientCredentials> {
  const client = fc.constantFrom(...clients);
  const confidential = fc.constantFrom(...clients.filter((c) => c.secret !== undefined));
  const wrongSecret = mixed(['wrong-secret'], hostileString);
  const invalid = (params: Pairs = [], headers: [string, string][] = []): ClientCredentials => ({ headers, params, valid: false });
  return fc.oneof(
    { weight: 6, arbitrary: confidential.map((c) => validCredentials(c, 'basic')) },
    { weight: 3, arbitrary: confidential.map((c) => validCredentials(c, 'post')) },
    // client_id alone: right for a public client, invalid_client for a confidential one.
    { weight: 3, arbitrary: client.map((c) => (c.secret === undefined ? validCredentials(c) : invalid([['client_id', c.id]]))) },
    { weight: 2, arbitrary: fc.tuple(client, wrongSecret).map(([c, secret]) => invalid([], [['Authorization', basicOf(formEncode(c.id), secret)]])) },
    {
      weight: 2,
      arbitrary: fc.tuple(client, wrongSecret).map(([c, secret]) =>
        invalid([
          ['client_id', c.id],
          ['client_secret', secret],
        ]),
      ),
    },
    { weight: 2, arbitrary: fc.tuple(hostileString, hostileString).map(([id, secret]) => invalid([], [['Authorization', basicOf(id, secret)]])) },
    { weight: 1, arbitrary: hostileString.map((id) => invalid([['client_id', id]])) },
    { weight: 1, arbitrary: confidential.map((c) => invalid([['client_secret', c.secret!]])) },
    // Two methods at once (RFC 6749 §2.3: exactly one).
    {
      weight: 1,
      arbitrary: confidential.map((c) =>
        invalid(
          [
            ['client_id', c.id],
            ['client_secret', c.secret!],
          ],
          validCredentials(c).headers,
        ),
      ),
    },
    // Basic plus a client_id parameter: fine when it names the same client.
    {
      weight: 1,
      arbitrary: fc
        .tuple(confidential, client)
        .map(([c, other]) =>
          c.id === other.id
            ? { ...validCredentials(c), params: [['client_id', c.id]] as Pairs }
            : invalid([['client_id', other.id]], validCredentials(c).headers),
        ),
    },
    { weight: 4, arbitrary: malformedAuthorization(clients).map((value) => invalid([], [['Authorization', value]])) },
    { weight: 1, arbitrary: fc.constant(invalid()) },
  );
}

/** The form a request's body carries, as the server parses it: every value of every name. */
export function formOf(request: FuzzRequest): Map<string, string[]> {
  const form = new Map<string, string[]>();
  if (typeof request.body !== 'string') return form;
  for (const [name, value] of new URLSearchParams(request.body)) form.set(name, [...(form.get(name) ?? []), value]);
  return form;
}

/**
 * Which registered client a request authenticates as, by RFC 6749 §2.3.1 (the oracle the
 * specs hold answers against): exactly one method, Basic (its parts form-urlencoded) or
 * client_id with client_secret in the form for a confidential client, client_id alone for
 * a public one. Undefined when the credentials are not exactly one client's right ones.
 */
export function authenticatedClient(request: FuzzRequest, clients: readonly KnownClient[]): KnownClient | undefined {
  const form = formOf(request);
  // A repeated parameter is refused (null); an empty one counts as absent (RFC 6749 §3.1).
  const single = (name: string) => {
    const values = form.get(name) ?? [];
    return values.length > 1 ? null : values[0] || undefined;
  };
  const clientId = single('client_id');
  const clientSecret = single('client_secret');
  if (clientId === null || clientSecret === null) return undefined;
  const authorization = request.headers.find(([name]) => name.toLowerCase() === 'authorization')?.[1].trim();
  const basic = authorization === undefined ? undefined : /^basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || clientSecret !== undefined) return undefined;
    let id: string;
    let secret: string;
    try {
      [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)].map((part) => decodeURIComponent(part.replace(/\+/g, '%20')));
    } catch {
      return undefined;
    }
    if (clientId !== undefined && clientId !== id) return undefined;
    return clients.find((client) => client.id === id && client.secret !== undefined && client.secret === secret);
  }
  if (clientSecret !== undefined) return clients.find((client) => client.id === clientId && client.secret !== undefined && client.secret === clientSecret);
  return clients.find((client) => client.id === clientId && client.secret === undefined);
}

/** Authorization header values of every malformed shape (Basic and Bearer alike). */
export function malformedAuthorization(clients: readonly KnownClient[] = [{ id: 'client' }]): fc.Arbitrary<string> {
  const id = fc.constantFrom(...clients.map((c) => c.id));
  return fc.oneof(
    fc.constantFrom(
      'Basic',
      'Basic ',
      'Basic  ',
      'basic',
      'BASIC Og==',
      'Basic Og==',
      'Basic ===',
      'Basic !!!!',
      'Basic a',
      'Basic YQ',
      'Bearer',
      'Bearer ',
      'Digest a=b',
      'Negotiate',
      ':',
      'Basic\tOg==',
    ),
    id.map((value) => `Basic ${Buffer.from(value).toString('base64')}`), // no colon
    id.map((value) => `Basic ${Buffer.from(`${value}:%zz`).toString('base64')}`),
    id.map((value) => `Basic ${Buffer.from(`%zz${value}:x`).toString('base64')}`),
    id.map((value) => `Basic ${Buffer.from(`${value}:x`).toString('base64')} trailing`),
    id.map((value) => `Basic ${Buffer.from(`${value}:x`).toString('base64url')}`),
    id.map((value) => `Basic   ${Buffer.from(`${value}:x`).toString('base64')}   `),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => `Basic ${Buffer.from(bytes).toString('base64')}`),
    fc.constantFrom(100, 5000, 12_000).map((length) => `Basic ${'A'.repeat(length)}`),
    hostileString.map((value) => `Basic ${value}`),
    hostileString.map((value) => `Bearer ${value}`),
    hostileString,
  );
}

/** HTTP methods, the usual ones and some that nothing routes. */
export const anyMethod: fc.Arbitrary<string> = fc.constantFrom(
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'SEARCH',
  'FOO',
  'get',
);

/** A Cookie header: none, a real session, or a broken one. */
export function cookieHeader(realSessions: readonly string[]): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.constantFrom(...realSessions).map((value) => `gatehouse_session=${value}`) },
    {
      weight: 2,
      arbitrary: fc.oneof(hostileString, percentGarbage).map((value) => `gatehouse_session=${value}`),
    },
    { weight: 1, arbitrary: hostileString },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...realSessions).map((value) => `a=b; gatehouse_session=${value}; gatehouse_session=other`),
    },
  );
}

/** A generated form request, with what the spec needs to judge the answer. */
export interface GeneratedForm {
  request: FuzzRequest;
  /** The body's parameters as the server parses them (the last value of a repeated name). */
  params: Map<string, string>;
}

/** A valid request to start from: its parameters and its client's credentials. */
export interface FormBaseline {
  params: Pairs;
  credentials: ClientCredentials;
}

/**
 * A form POST to `path` (RFC 6749 §3.2) made from a valid request and mutations of it:
 * parameters changed, dropped, repeated or added; other client credentials; every content
 * type and encoding; now and then another method, a query string, extra headers, or random
 * bytes as the body.
 */
export function formRequest(options: {
  path: string;
  baseline: fc.Arbitrary<FormBaseline>;
  fields: Record<string, fc.Arbitrary<string>>;
  credentials: fc.Arbitrary<ClientCredentials>;
  transport: fc.Arbitrary<Transport>;
}): fc.Arbitrary<GeneratedForm> {
  return fc
    .record({
      baseline: options.baseline,
      mutations: pairMutations(options.fields),
      otherCredentials: oneTimeIn(3, options.credentials),
      method: fc.oneof({ weight: 30, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: anyMethod }),
      query: fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 1, arbitrary: hostileString.map((value) => `?${value}`) }),
      encoding: pairEncoding,
      contentType: formContentType,
      randomBody: oneTimeIn(40, fc.uint8Array({ maxLength: 200 })),
      extraHeaders: fc.oneof(
        { weight: 4, arbitrary: fc.constant<[string, string][]>([]) },
        {
          weight: 1,
          arbitrary: fc.array(
            fc.oneof(
              fc.constantFrom<[string, string]>(['Origin', 'https://evil.example'], ['Origin', 'null'], ['Accept', '*/*'], ['Expect', '100-continue']),
              fc.tuple(fc.constantFrom('X-Forwarded-For', 'Accept-Charset', 'Cookie', 'Accept-Encoding', 'Content-Encoding'), hostileString.map(headerSafe)),
            ),
            { minLength: 1, maxLength: 2 },
          ),
        },
      ),
      transport: options.transport,
    })
    .map(({ baseline, mutations, otherCredentials, method, query, encoding, contentType, randomBody, extraHeaders, transport }) => {
      const credentials = otherCredentials ?? baseline.credentials;
      const list = applyMutations([...credentials.params, ...baseline.params], mutations);
      const headers: [string, string][] = [...credentials.headers.map(([n, v]): [string, string] => [n, headerSafe(v)]), ...extraHeaders];
      if (contentType !== undefined) headers.push(['Content-Type', headerSafe(contentType)]);
      const body = randomBody !== undefined ? Buffer.from(randomBody) : encodePairs(list, encoding);
      const request: FuzzRequest = { method, target: `${options.path}${query === '' ? '' : encodeTarget(query)}`, headers, body, transport };
      return { request, params: new Map([...formOf(request)].map(([name, values]) => [name, values[values.length - 1]])) };
    });
}

/**
 * What can go into a header line at all: no CR or LF (they would end the line; splitting
 * requests is not what is tested here), and Latin-1 at most. NUL and other controls stay.
 */
export function headerSafe(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/[\u0100-\u{10ffff}]/gu, '?');
}

/** A request target carries no spaces, CR or LF; everything else goes through as generated. */
export function encodeTarget(value: string): string {
  return value.replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(safe(char)));
}

/** How a request presents a bearer token (RFC 6750 §2.1): Authorization header values (none, one, or repeated). */
export interface BearerPresentation {
  authorization: string[];
}

/** A token changed by one character, cut short, padded, or doubled. */
function mutatedToken(token: string): fc.Arbitrary<string> {
  return fc.tuple(fc.nat({ max: Math.max(0, token.length - 1) }), fc.constantFrom('flip', 'cut', 'pad', 'double', 'dot')).map(([index, how]) => {
    switch (how) {
      case 'flip':
        return `${token.slice(0, index)}${token[index] === 'A' ? 'B' : 'A'}${token.slice(index + 1)}`;
      case 'cut':
        return token.slice(0, index);
      case 'pad':
        return `${token}==`;
      case 'double':
        return `${token}${token}`;
      default:
        return `${token}.`;
    }
  });
}

/** Bearer credentials of every shape: right, in another case, badly spaced, changed, under another scheme, doubled, missing. */
export function bearerPresentation(tokens: readonly FuzzToken[]): fc.Arbitrary<BearerPresentation> {
  // Live tokens two times in three: the paths behind the guard need them.
  const live = tokens.filter((t) => t.live).map((t) => t.token);
  const token = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...live) }, { weight: 1, arbitrary: fc.constantFrom(...tokens.map((t) => t.token)) });
  const one = (value: string): BearerPresentation => ({ authorization: [value] });
  return fc.oneof(
    { weight: 8, arbitrary: token.map((t) => one(`Bearer ${t}`)) },
    { weight: 2, arbitrary: fc.tuple(token, fc.constantFrom('bearer', 'BEARER', 'BeArEr')).map(([t, scheme]) => one(`${scheme} ${t}`)) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          token,
          fc.constantFrom('Bearer  %', 'Bearer % ', 'Bearer\t%', ' Bearer %', 'Bearer%', 'Bearer %, Bearer %', 'Basic %', 'Token %', '%', 'Bearer "%"'),
        )
        .map(([t, shape]) => one(shape.replace(/%/g, t))),
    },
    { weight: 3, arbitrary: token.chain((t) => mutatedToken(t).map((changed) => one(`Bearer ${changed}`))) },
    { weight: 1, arbitrary: fc.tuple(token, token).map(([a, b]): BearerPresentation => ({ authorization: [`Bearer ${a}`, `Bearer ${b}`] })) },
    { weight: 2, arbitrary: malformedAuthorization().map((value) => one(headerSafe(value))) },
    { weight: 2, arbitrary: fc.constant<BearerPresentation>({ authorization: [] }) },
  );
}

/**
 * The token a presentation names under RFC 6750 §2.1 read leniently (the scheme in any
 * case, one or more spaces, trailing space ignored); HTTP servers keep the first of
 * repeated Authorization headers. Undefined when it names none of `tokens`.
 */
export function namedToken(presentation: BearerPresentation, tokens: readonly FuzzToken[]): FuzzToken | undefined {
  // HTTP drops whitespace around a field value (RFC 9110 §5.5), so it may lead too.
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(presentation.authorization[0] ?? '');
  return match ? tokens.find((t) => canonicalJws(t.token) === canonicalJws(match[1])) : undefined;
}

/**
 * A compact JWS with each segment decoded and encoded again. Base64url decoders (Node's
 * among them) ignore padding and the unused low bits of the last character, so `x==` and
 * `x` with its last character changed in those bits carry the same bytes, and verify alike.
 */
function canonicalJws(token: string): string {
  return token
    .split('.')
    .map((segment) => Buffer.from(segment, 'base64url').toString('base64url'))
    .join('.');
}
