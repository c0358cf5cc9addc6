import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicFor, expectOAuthError, HttpResult, postForm, request } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/** RFC 6749 §3.2 and §5.2: what the token endpoint refuses, and how. */
describe('token endpoint (malformed and refused requests)', () => {
  let t: TestApp;
  let client: TestClient;
  let tokenUrl: string;
  let auth: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp();
    tokenUrl = `${t.baseUrl}/oauth/token`;
    client = await t.createClient({ client_id: 'm2m', grant_types: ['client_credentials'], scope: 'notes:read' });
    auth = { authorization: basicFor(client) };
  });
  afterAll(() => t?.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    request(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth, ...headers }, body });

  it('accepts a well-formed request (the baseline the other rules vary)', async () => {
    const result = await post('grant_type=client_credentials');
    expect(result.status, result.text).toBe(200);
  });

  it('accepts a charset parameter on the form media type', async () => {
    const result = await post('grant_type=client_credentials', { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' });
    expect(result.status, result.text).toBe(200);
  });

  it('refuses a JSON body with invalid_request', async () => {
    expectOAuthError(await post(JSON.stringify({ grant_type: 'client_credentials' }), { 'content-type': 'application/json' }), 400, 'invalid_request');
  });

  it('refuses a text/plain body with invalid_request', async () => {
    expectOAuthError(await post('grant_type=client_credentials', { 'content-type': 'text/plain' }), 400, 'invalid_request');
  });

  it('refuses a request without a body with invalid_request', async () => {
    expectOAuthError(await request(tokenUrl, { method: 'POST', headers: auth }), 400, 'invalid_request');
  });

  it('refuses a missing grant_type with invalid_request, saying so', async () => {
    const result = await post('scope=notes%3Aread');
    expectOAuthError(result, 400, 'invalid_request');
    expect((result.body as { error_description: string }).error_description).toMatch(/grant_type is required/);
  });

  it('treats an empty grant_type as missing (RFC 6749 §3.1)', async () => {
    expectOAuthError(await post('grant_type='), 400, 'invalid_request');
  });

  it('refuses a repeated parameter with invalid_request (RFC 6749 §3.1)', async () => {
    expectOAuthError(await post('grant_type=client_credentials&grant_type=client_credentials'), 400, 'invalid_request');
    expectOAuthError(await post('grant_type=client_credentials&scope=notes%3Aread&scope=notes%3Aread'), 400, 'invalid_request');
  });

  it('refuses a repeated client_id with invalid_request', async () => {
    const result = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: ['m2m', 'm2m'], client_secret: client.client_secret! });
    expectOAuthError(result, 400, 'invalid_request');
  });

  it('refuses an oversized parameter with invalid_request', async () => {
    expectOAuthError(await post(`grant_type=client_credentials&scope=${'a'.repeat(5000)}`), 400, 'invalid_request');
  });

  it('refuses too many parameters with invalid_request', async () => {
    const many = Array.from({ length: 100 }, (_, index) => `p${index}=x`).join('&');
    expectOAuthError(await post(`grant_type=client_credentials&${many}`), 400, 'invalid_request');
  });

  it('refuses a body over 64 KiB with a 4xx JSON error, before reading it all', async () => {
    const result = await post(`grant_type=client_credentials&padding=${'a'.repeat(70 * 1024)}`);
    expect(result.status).toBe(413);
    expectOAuthError(result, 413, 'invalid_request');
  });

  it('refuses an unknown grant type with unsupported_grant_type', async () => {
    expectOAuthError(await post('grant_type=urn%3Aexample%3Anot-a-grant'), 400, 'unsupported_grant_type');
    // implicit is an authorization-endpoint grant: it has no token-endpoint strategy.
    expectOAuthError(await post('grant_type=implicit'), 400, 'unsupported_grant_type');
  });

  it('refuses a malformed grant_type with invalid_request', async () => {
    expectOAuthError(await post('grant_type=not%20a%20grant'), 400, 'invalid_request');
  });

  it('refuses a grant type the client is not registered for with unauthorized_client', async () => {
    expectOAuthError(await post('grant_type=password&username=alice&password=secret-password'), 400, 'unauthorized_client');
    expectOAuthError(await post('grant_type=refresh_token&refresh_token=abc'), 400, 'unauthorized_client');
  });

  it('authenticates the client before anything else: a bad client with a bad grant is invalid_client', async () => {
    const result = await post('grant_type=nonsense', { authorization: `Basic ${Buffer.from('m2m:wrong').toString('base64')}` });
    expectOAuthError(result, 401, 'invalid_client');
  });

  it('answers GET with a JSON 404 or 405, not a token', async () => {
    const result = await request(tokenUrl, { headers: auth });
    expect([404, 405]).toContain(result.status);
    expectOAuthError(result, result.status, result.status === 404 ? 'not_found' : 'method_not_allowed');
  });

  it('answers other methods with a JSON 404 or 405', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const result = await request(tokenUrl, { method, headers: auth });
      expect([404, 405]).toContain(result.status);
      expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    }
  });

  it('never answers 500 or HTML, and every error body is exactly error and error_description', async () => {
    const hostile: { body: string | Uint8Array; headers?: Record<string, string> }[] = [
      { body: '' },
      { body: '&&&===&&&' },
      { body: '%' },
      { body: 'grant_type=%E0%A4%A' },
      { body: 'grant_type=client_credentials%00' },
      { body: 'grant_type=\u00e9\u00e8' },
      { body: 'grant_type=client_credentials&scope=%FF%FE' },
      { body: 'grant_type=client_credentials&scope=\u0000' },
      { body: '__proto__=x&constructor=y&grant_type=client_credentials&scope=toString' },
      { body: 'grant_type[]=client_credentials' },
      { body: new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x80]) },
      { body: '{"grant_type":', headers: { 'content-type': 'application/json' } },
      { body: '<xml/>', headers: { 'content-type': 'application/xml' } },
      { body: 'grant_type=client_credentials', headers: { 'content-type': 'multipart/form-data; boundary=x' } },
      { body: 'grant_type=client_credentials', headers: { authorization: 'Basic' } },
      { body: 'grant_type=client_credentials', headers: { authorization: 'Bearer abc' } },
      { body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from('m2m:%zz').toString('base64')}` } },
      { body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from('%zz:x').toString('base64')}` } },
      { body: 'grant_type=client_credentials', headers: { authorization: `Basic ${'A'.repeat(6000)}` } },
    ];
    const results: HttpResult<unknown>[] = [];
    for (const { body, headers } of hostile) {
      results.push(await request(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth, ...headers }, body }));
    }
    for (const [index, result] of results.entries()) {
      const context = `request ${index}: ${result.status} ${result.text}`;
      expect(result.headers.get('content-type'), context).toMatch(/^application\/json/);
      if (result.status === 200) continue; // some of these are, after all, well-formed
      expect(result.status, context).toBeGreaterThanOrEqual(400);
      expect(result.status, context).toBeLessThan(500);
      expectOAuthError(result, result.status, (result.body as { error: string }).error);
    }
  });
});
