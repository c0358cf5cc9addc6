import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, basic, basicFor, clientPost, expectOAuthError, JsonBody, jwtHeader, jwtPayload, postForm, TokenSet } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/** RFC 6749 §4.4 client credentials grant, with RFC 9068 JWT access tokens. */
describe('client_credentials grant', () => {
  let t: TestApp;
  let basicClient: TestClient;
  let postClient: TestClient;
  let publicClient: TestClient;
  let tokenUrl: string;

  beforeAll(async () => {
    t = await startTestApp();
    tokenUrl = `${t.baseUrl}/oauth/token`;
    basicClient = await t.createClient({ client_id: 'cc-basic', grant_types: ['client_credentials', 'refresh_token'], scope: 'notes:read notes:write' });
    postClient = await t.createClient({
      client_id: 'cc-post',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      scope: 'notes:read notes:write',
    });
    publicClient = await t.createClient({ client_id: 'cc-public', token_endpoint_auth_method: 'none', grant_types: ['password'], scope: 'notes:read' });
  });
  afterAll(() => t?.close());

  const viaBasic = (client: TestClient, params: Record<string, string | undefined> = {}) =>
    clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', client, { grant_type: 'client_credentials', ...params }, 'basic');

  it('issues an access token to a client authenticating with client_secret_basic', async () => {
    const result = await viaBasic(basicClient);
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    expect(result.body.token_type.toLowerCase()).toBe('bearer');
    expect(typeof result.body.access_token).toBe('string');
    expect(result.body.expires_in).toBe(t.config.accessTokenTtl);
    expect(result.body.scope).toBe('notes:read notes:write');
  });

  it('issues an access token to a client authenticating with client_secret_post', async () => {
    const result = await clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', postClient, { grant_type: 'client_credentials' }, 'post');
    expect(result.status, result.text).toBe(200);
    expect(jwtPayload(result.body.access_token).client_id).toBe('cc-post');
  });

  it('answers with Cache-Control: no-store and Pragma: no-cache', async () => {
    const result = await viaBasic(basicClient);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.headers.get('pragma')).toBe('no-cache');
  });

  it('issues an RFC 9068 JWT: typ at+jwt, signed with a key the JWKS publishes', async () => {
    const { body } = await viaBasic(basicClient);
    const header = jwtHeader(body.access_token);
    expect(header.typ).toBe('at+jwt');
    expect(header.alg).toBe(t.config.accessTokenSigningAlg);
    const jwks = (await (await fetch(`${t.baseUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);

    const verified = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${t.baseUrl}/.well-known/jwks.json`)), {
      issuer: t.config.issuer,
      audience: t.config.accessTokenAudience,
      typ: 'at+jwt',
      algorithms: [t.config.accessTokenSigningAlg],
    });
    expect(verified.protectedHeader.kid).toBe(header.kid);
  });

  it('puts iss, sub = client_id, aud, client_id, scope, iat, exp and jti in the token', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { body } = await viaBasic(basicClient);
    const claims = jwtPayload(body.access_token);
    expect(claims).toMatchObject({
      iss: t.config.issuer,
      sub: 'cc-basic',
      aud: `${t.config.issuer}/api`,
      client_id: 'cc-basic',
      scope: 'notes:read notes:write',
    });
    expect(claims.iat).toBeGreaterThanOrEqual(before - 1);
    expect(claims.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    expect(claims.exp).toBe((claims.iat as number) + body.expires_in);
    expect(typeof claims.jti).toBe('string');
    // A token a client obtains for itself belongs to no grant and no user session.
    expect(claims).not.toHaveProperty('grant_id');
    expect(claims).not.toHaveProperty('sid');
  });

  it('gives every token its own jti', async () => {
    const [first, second] = await Promise.all([viaBasic(basicClient), viaBasic(basicClient)]);
    expect(jwtPayload(first.body.access_token).jti).not.toBe(jwtPayload(second.body.access_token).jti);
  });

  it('never issues a refresh token (RFC 6749 §4.4.3), even to a client registered for refresh_token', async () => {
    const result = await viaBasic(basicClient);
    expect(result.status).toBe(200);
    expect(result.body).not.toHaveProperty('refresh_token');
  });

  it('grants a narrower scope when asked, in the response and in the token', async () => {
    const result = await viaBasic(basicClient, { scope: 'notes:read' });
    expect(result.status, result.text).toBe(200);
    expect(result.body.scope).toBe('notes:read');
    expect(jwtPayload(result.body.access_token).scope).toBe('notes:read');
  });

  it('grants every registered scope when the request names none', async () => {
    const result = await viaBasic(basicClient, { scope: '' });
    expect(result.body.scope).toBe('notes:read notes:write');
  });

  it('refuses a scope the client is not registered for with invalid_scope', async () => {
    expectOAuthError(await viaBasic(basicClient, { scope: 'notes:read admin' }), 400, 'invalid_scope');
  });

  it('refuses a scope with characters RFC 6749 §3.3 does not allow with invalid_scope', async () => {
    expectOAuthError(await viaBasic(basicClient, { scope: 'notes:read "quoted"' }), 400, 'invalid_scope');
  });

  it('issues a token the resource API accepts, with the client as subject', async () => {
    const { body } = await viaBasic(basicClient);
    const me = await api(t.baseUrl, '/api/me', body.access_token);
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ sub: 'cc-basic', client_id: 'cc-basic', scope: 'notes:read notes:write' });
  });

  it('refuses a public client (no secret) with unauthorized_client', async () => {
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: publicClient.client_id }), 400, 'unauthorized_client');
  });

  it('does not let a public client register for client_credentials at all', async () => {
    await expect(t.createClient({ token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] })).rejects.toMatchObject({
      code: 'invalid_client_metadata',
    });
  });

  it('answers a wrong secret sent with Basic with 401 invalid_client and a Basic challenge', async () => {
    const result = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic('cc-basic', 'not-the-secret') });
    expectOAuthError(result, 401, 'invalid_client');
    expect(result.headers.get('www-authenticate')).toMatch(/^Basic\b/i);
  });

  it('answers a wrong secret sent with client_secret_post with 401 invalid_client', async () => {
    const result = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: 'cc-post', client_secret: 'not-the-secret' });
    expectOAuthError(result, 401, 'invalid_client');
  });

  it('answers an unknown client exactly like a wrong secret', async () => {
    const unknown = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic('no-such-client', 'whatever') });
    const wrongSecret = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic('cc-basic', 'whatever') });
    expectOAuthError(unknown, 401, 'invalid_client');
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Basic\b/i);
    expect(unknown.body).toEqual(wrongSecret.body);
  });

  it('answers an unknown client using client_secret_post with 401 invalid_client', async () => {
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x' }), 401, 'invalid_client');
  });

  it('answers a request without client authentication with 401 invalid_client', async () => {
    expectOAuthError(await postForm(tokenUrl, { grant_type: 'client_credentials' }), 401, 'invalid_client');
  });

  it('refuses Basic and client_secret_post in the same request with invalid_request', async () => {
    const result = await postForm(
      tokenUrl,
      { grant_type: 'client_credentials', client_id: 'cc-basic', client_secret: basicClient.client_secret! },
      { authorization: basicFor(basicClient) },
    );
    expectOAuthError(result, 400, 'invalid_request');
  });

  it('refuses a client_id in the body that differs from the Basic one with invalid_request', async () => {
    const result = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: 'cc-post' }, { authorization: basicFor(basicClient) });
    expectOAuthError(result, 400, 'invalid_request');
  });

  it('accepts a client_id in the body that repeats the Basic one', async () => {
    const result = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: 'cc-basic' }, { authorization: basicFor(basicClient) });
    expect(result.status, result.text).toBe(200);
  });

  it('answers malformed Basic credentials with 401 invalid_client and a Basic challenge', async () => {
    for (const authorization of ['Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`]) {
      const result = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization });
      expectOAuthError(result, 401, 'invalid_client');
      expect(result.headers.get('www-authenticate')).toMatch(/^Basic\b/i);
    }
  });
});
