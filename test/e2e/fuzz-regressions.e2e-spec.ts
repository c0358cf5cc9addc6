import { beforeAll, describe, expect, it } from 'vitest';
import { FuzzWorld, useFuzzWorld, WEB_REDIRECTS } from '../helpers/fuzz-world';
import { basicFor, expectOAuthError, postForm, request } from '../helpers/http';

/**
 * Inputs the fuzzers found answered with a 5xx or outside the RFC error shape, each named,
 * each answered properly now. (Limits found the same way are in limits.e2e-spec.ts.)
 */
describe('fuzz findings (regressions)', () => {
  const getWorld = useFuzzWorld();
  let world: FuzzWorld;
  let base: string;

  beforeAll(() => {
    world = getWorld();
    base = world.app.baseUrl;
  });

  const tokenRequest = (body: string, headers: Record<string, string> = {}) =>
    request(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  const authorize = (params: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${base}/oauth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual', headers });
  const codeRequest = (extra: Record<string, string> = {}) => ({
    client_id: 'web',
    redirect_uri: WEB_REDIRECTS[0],
    response_type: 'code',
    scope: 'openid',
    state: 'st',
    code_challenge: world.pkce.challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  /** The error parameters of a redirect back to the web client. */
  const redirectedError = (response: Response) => {
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(WEB_REDIRECTS[0]);
    return Object.fromEntries(new URLSearchParams(location.hash ? location.hash.slice(1) : location.search));
  };

  it('answers a NUL client id in the Basic header (Basic ADo=, "\\0:") with invalid_client, not 500', async () => {
    const result = await tokenRequest('grant_type=client_credentials', { authorization: 'Basic ADo=' });
    expectOAuthError(result, 401, 'invalid_client');
  });

  it('answers client_id=%00 in the form with invalid_client, not 500', async () => {
    expectOAuthError(await tokenRequest('grant_type=client_credentials&client_id=%00'), 401, 'invalid_client');
  });

  it('answers username=%00 in a password grant with invalid_request, not 500 (PostgreSQL cannot hold a NUL)', async () => {
    const result = await postForm(
      `${base}/oauth/token`,
      { grant_type: 'password', username: 'a\u0000b', password: 'x' },
      { authorization: basicFor(world.clients.app) },
    );
    expect(result.status, result.text).toBeLessThan(500);
    expectOAuthError(result, result.status, result.status === 400 ? (result.body.error as string) : 'invalid_grant');
  });

  it('keeps error_description to RFC 6749 §5.2 characters when it quotes a parameter name (%C3%A9 repeated)', async () => {
    const result = await tokenRequest('grant_type=client_credentials&%C3%A9=1&%C3%A9=2', { authorization: basicFor(world.clients.m2m) });
    expectOAuthError(result, 400, 'invalid_request');
    expect(result.body.error_description).toBe('parameter ? is repeated');
  });

  it('treats a session cookie that does not decode (gatehouse_session=%80) as no session, not 500', async () => {
    const response = await authorize(codeRequest(), { cookie: 'gatehouse_session=%80' });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('data-page="login"');
  });

  it('keeps the error_description of an authorization error redirect to RFC characters (response_type=%C2%A0)', async () => {
    const params = redirectedError(await authorize(codeRequest({ response_type: '\u00a0' })));
    expect(params.error).toBe('unsupported_response_type');
    expect(params.error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
  });

  it('sends a NUL in an authorization parameter (nonce=a%00b) back to the client as invalid_request, not 500', async () => {
    const cookie = `gatehouse_session=${world.sessions[0]}`;
    const params = redirectedError(await authorize(codeRequest({ nonce: 'a\u0000b' }), { cookie }));
    expect(params).toMatchObject({ error: 'invalid_request', state: 'st' });
  });

  it.each([
    ['a NUL', '{"userinfo":{"\\u0000":null}}'],
    ['a lone surrogate', '{"userinfo":{"email":{"value":"\\ud800"}}}'],
  ])('sends a claims parameter holding %s back to the client as invalid_request, not 500 (jsonb cannot hold it)', async (_, claims) => {
    const cookie = `gatehouse_session=${world.sessions[0]}`;
    const params = redirectedError(await authorize(codeRequest({ claims }), { cookie }));
    expect(params).toMatchObject({ error: 'invalid_request', state: 'st' });
  });

  it('answers GET /oauth/register/%00 with 401 invalid_token like any unknown client, not 500', async () => {
    const result = await request(`${base}/oauth/register/%00`, { headers: { authorization: 'Bearer abc' } });
    expectOAuthError(result, 401, 'invalid_token');
    expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
  });
});
