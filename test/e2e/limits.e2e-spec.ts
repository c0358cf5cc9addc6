import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequest, exchangeOnce, WireRequest, WireResponse } from '../helpers/fuzz-http';
import { basicFor } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const REDIRECT = 'http://127.0.0.1:7001/callback';

/**
 * The limits every request meets, each over a real socket (Node's HTTP parser included),
 * each answered with a 4xx in the RFC 6749 §5.2 JSON shape: body, head, URL, parameter
 * count and length, JSON nesting, list sizes in client metadata.
 */
describe('request limits (answered 4xx in the RFC error shape)', () => {
  let t: TestApp;
  let port: number;
  let m2m: TestClient;

  beforeAll(async () => {
    t = await startTestApp({ env: { REGISTRATION_RATE_LIMIT: '1000' } });
    port = Number(new URL(t.baseUrl).port);
    m2m = await t.createClient({ client_id: 'm2m', grant_types: ['client_credentials'], scope: 'notes:read' });
    await t.createClient({ client_id: 'web', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], scope: 'openid' });
  });
  afterAll(() => t?.close());

  const send = async (request: WireRequest): Promise<WireResponse> => {
    const response = await exchangeOnce(port, encodeRequest(request, `127.0.0.1:${port}`));
    expect(response, 'the server answered').toBeDefined();
    return response!;
  };
  const json = (response: WireResponse) => JSON.parse(response.text) as { error: string; error_description: string };
  /** RFC 6749 §5.2 shape, over the wire. */
  const expectRfcError = (response: WireResponse, status: number, error = 'invalid_request') => {
    expect(response.status, response.text).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(Object.keys(json(response)).sort()).toEqual(['error', 'error_description']);
    expect(json(response).error).toBe(error);
    expect(json(response).error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
  };
  const tokenForm = (body: string): WireRequest => ({
    method: 'POST',
    target: '/oauth/token',
    headers: [
      ['Authorization', basicFor(m2m)],
      ['Content-Type', 'application/x-www-form-urlencoded'],
    ],
    body,
  });
  const authorize = (params: [string, string][]) =>
    send({ method: 'GET', target: `/oauth/authorize?${new URLSearchParams([['client_id', 'web'], ['redirect_uri', REDIRECT], ...params])}`, headers: [] });
  const redirectError = (response: WireResponse) => {
    expect(response.status, response.text).toBe(302);
    const location = new URL(response.headers.location);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    return { error: location.searchParams.get('error'), description: location.searchParams.get('error_description') };
  };

  describe('body: 64 KiB', () => {
    it('refuses a body over 64 KiB with 413 invalid_request', async () => {
      expectRfcError(await send(tokenForm(`grant_type=client_credentials&padding=${'a'.repeat(64 * 1024)}`)), 413);
    });

    it('reads a body of exactly 64 KiB (then judges its parameters)', async () => {
      const body = `grant_type=client_credentials&p=${'a'.repeat(64 * 1024 - 'grant_type=client_credentials&p='.length)}`;
      expect(Buffer.byteLength(body)).toBe(64 * 1024);
      expectRfcError(await send(tokenForm(body)), 400); // the parameter is too long, but the body was read
    });
  });

  describe('head: 16 KiB of request line and headers', () => {
    it('refuses headers over 16 KiB with 431 invalid_request in JSON (not Node’s bare answer) and closes the connection', async () => {
      const response = await send({ method: 'GET', target: '/health/live', headers: [['X-Padding', 'a'.repeat(17 * 1024)]] });
      expectRfcError(response, 431);
      expect(response.headers.connection).toBe('close');
      expect(json(response).error_description).toContain('16384');
    });

    it('serves a request whose head is just under 16 KiB', async () => {
      const response = await send({ method: 'GET', target: '/health/live', headers: [['X-Padding', 'a'.repeat(15 * 1024)]] });
      expect(response.status).toBe(200);
    });
  });

  describe('URL: 8 KiB', () => {
    it('refuses a request target over 8192 characters with 414 invalid_request', async () => {
      const response = await send({ method: 'GET', target: `/health/live?${'a'.repeat(8200)}`, headers: [] });
      expectRfcError(response, 414);
    });

    it('serves a request target of exactly 8192 characters', async () => {
      const target = `/health/live?q=${'a'.repeat(8192 - '/health/live?q='.length)}`;
      expect(target).toHaveLength(8192);
      expect((await send({ method: 'GET', target, headers: [] })).status).toBe(200);
    });

    it('refuses a URL that does not decode with 400 invalid_request, security headers included (found by fuzzing: Fastify’s own shape)', async () => {
      expectRfcError(await send({ method: 'GET', target: '/api/notes/%80', headers: [['Authorization', 'Bearer x']] }), 400);
    });

    it('refuses a path segment over 256 characters with 414 invalid_request (found by fuzzing: Fastify’s own shape)', async () => {
      expectRfcError(await send({ method: 'GET', target: `/oauth/register/${'a'.repeat(300)}`, headers: [] }), 414);
    });
  });

  describe('authorization endpoint parameters: 64 of at most 4096 characters', () => {
    /** An authorization request of `count` parameters in all: client_id, redirect_uri, the PKCE code request, and padding. */
    const withParameters = (count: number) => {
      const request: [string, string][] = [
        ['response_type', 'code'],
        ['code_challenge', 'a'.repeat(43)],
        ['code_challenge_method', 'S256'],
      ];
      const padding = Array.from({ length: count - 2 - request.length }, (_, index): [string, string] => [`p${index}`, 'x']);
      return authorize([...request, ...padding]);
    };

    it('sends more than 64 parameters back to the client as invalid_request', async () => {
      expect(redirectError(await withParameters(65))).toEqual({ error: 'invalid_request', description: 'too many parameters (at most 64)' });
    });

    it('accepts 64 parameters (and shows the login page)', async () => {
      const response = await withParameters(64);
      expect(response.status, response.text.slice(0, 300)).toBe(200);
      expect(response.text).toContain('data-page="login"');
    });

    it('sends a parameter over 4096 characters back to the client as invalid_request', async () => {
      expect(
        redirectError(
          await authorize([
            ['response_type', 'code'],
            ['state', 'a'.repeat(4097)],
          ]),
        ),
      ).toMatchObject({ error: 'invalid_request' });
    });
  });

  describe('form parameters: 64 of at most 4096 characters (RFC 6749 §3.2 endpoints)', () => {
    it('refuses more than 64 parameters with invalid_request', async () => {
      const many = Array.from({ length: 64 }, (_, index) => `p${index}=x`).join('&');
      expectRfcError(await send(tokenForm(`grant_type=client_credentials&${many}`)), 400);
    });

    it('refuses a parameter over 4096 characters with invalid_request', async () => {
      expectRfcError(await send(tokenForm(`grant_type=client_credentials&scope=${'a'.repeat(4097)}`)), 400);
    });
  });

  describe('JSON bodies: 32 levels of nesting', () => {
    const register = (body: string) => send({ method: 'POST', target: '/oauth/register', headers: [['Content-Type', 'application/json']], body });
    const nested = (depth: number) =>
      `{"redirect_uris":["https://app.example.com/cb"],"jwks":{"keys":[{"kty":"EC","x5c":${'['.repeat(depth)}${']'.repeat(depth)}}]}}`;

    it('refuses a body nested deeper than 32 levels with invalid_request (20,000 levels answered 500 before the limit)', async () => {
      const response = await register(nested(20_000));
      expectRfcError(response, 400);
      expect(json(response).error_description).toContain('32');
      expectRfcError(await register(nested(30)), 400); // 4 levels of envelope + 30 = 34
    });

    it('reads a body nested 32 levels deep', async () => {
      const response = await register(nested(28)); // 4 + 28 = 32
      expect(response.status, response.text).toBe(201);
    });

    it('applies to every JSON endpoint, the sample API included', async () => {
      const response = await send({
        method: 'POST',
        target: '/api/notes',
        headers: [['Content-Type', 'application/json']],
        body: `{"text":${'['.repeat(40)}${']'.repeat(40)}}`,
      });
      expectRfcError(response, 400);
    });
  });

  describe('client metadata lists: 100 values', () => {
    it('refuses more than 100 redirect URIs with invalid_client_metadata (found by fuzzing: 3,000 were stored)', async () => {
      const redirectUris = Array.from({ length: 101 }, (_, index) => `https://app.example.com/cb/${index}`);
      const response = await send({
        method: 'POST',
        target: '/oauth/register',
        headers: [['Content-Type', 'application/json']],
        body: JSON.stringify({ redirect_uris: redirectUris }),
      });
      expectRfcError(response, 400, 'invalid_client_metadata');
    });
  });

  describe('what Node’s HTTP parser refuses', () => {
    it('answers a malformed request with 400 invalid_request in JSON, naming the parser’s reason', async () => {
      const response = await exchangeOnce(port, Buffer.from('GET /health HTTP/1.1\r\nNo-Colon\r\n\r\n'));
      expectRfcError(response!, 400);
      expect(json(response!).error_description).toMatch(/HPE_/);
    });

    it('answers an HTTP/1.1 request without Host with 400 invalid_request in JSON (found by fuzzing: an empty body), and serves HTTP/1.0 without it', async () => {
      const response = await exchangeOnce(port, Buffer.from('GET /health/live HTTP/1.1\r\nX-Host: x\r\n\r\n'));
      expectRfcError(response!, 400);
      expect(json(response!).error_description).toContain('Host');
      expect((await exchangeOnce(port, Buffer.from('GET /health/live HTTP/1.0\r\n\r\n')))?.status).toBe(200);
    });

    it('answers an Expect header other than 100-continue with 417 invalid_request in JSON', async () => {
      expectRfcError(await send({ method: 'GET', target: '/health/live', headers: [['Expect', 'something-else']] }), 417);
    });
  });
});
