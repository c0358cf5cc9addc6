import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtPayload } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

/**
 * Gatehouse as openid-client v6 (a certified relying-party library) sees it. Gatehouse
 * publishes RFC 8414 metadata only, hence `algorithm: 'oauth2'`; plain http on
 * 127.0.0.1 needs `allowInsecureRequests`.
 */
describe('openid-client interoperability', () => {
  let t: TestApp;
  let service: TestClient;
  let firstParty: TestClient;
  let resourceServer: TestClient;
  let aliceId: string;

  const discover = (client: TestClient, auth: oidc.ClientAuth) =>
    oidc.discovery(new URL(t.config.issuer), client.client_id, undefined, auth, { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });

  beforeAll(async () => {
    t = await startTestApp();
    service = await t.createClient({ client_id: 'service', grant_types: ['client_credentials'], scope: 'notes:read notes:write' });
    firstParty = await t.createClient({
      client_id: 'first-party',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['password', 'refresh_token'],
      scope: 'openid notes:read notes:write',
    });
    resourceServer = await t.createClient({ client_id: 'resource-server', grant_types: ['client_credentials'], scope: 'notes:read' });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
  });
  afterAll(() => t?.close());

  it('discovers the server from its RFC 8414 metadata', async () => {
    const config = await discover(service, oidc.ClientSecretBasic(service.client_secret));
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(t.config.issuer);
    expect(metadata.token_endpoint).toBe(`${t.baseUrl}/oauth/token`);
    expect(metadata.revocation_endpoint).toBe(`${t.baseUrl}/oauth/revoke`);
    expect(metadata.introspection_endpoint).toBe(`${t.baseUrl}/oauth/introspect`);
  });

  it('obtains a token with clientCredentialsGrant (client_secret_basic) and calls the API with it', async () => {
    const config = await discover(service, oidc.ClientSecretBasic(service.client_secret));
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'notes:read' });
    expect(tokens.token_type).toBe('bearer'); // openid-client normalises the case
    expect(tokens.scope).toBe('notes:read');
    expect(tokens.expiresIn()).toBeGreaterThan(0);
    expect(tokens.refresh_token).toBeUndefined();

    const response = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${t.baseUrl}/api/me`), 'GET');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: 'service', client_id: 'service' });
  });

  it('runs the password grant with genericGrantRequest (client_secret_post) and refreshes with refreshTokenGrant', async () => {
    const config = await discover(firstParty, oidc.ClientSecretPost(firstParty.client_secret));
    const tokens = await oidc.genericGrantRequest(config, 'password', { username: 'alice', password: PASSWORD, scope: 'notes:read notes:write' });
    expect(jwtPayload(tokens.access_token).sub).toBe(aliceId);
    expect(typeof tokens.refresh_token).toBe('string');

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(jwtPayload(refreshed.access_token).sub).toBe(aliceId);

    // The rotated token is spent: openid-client surfaces the RFC 6749 error.
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
  });

  it('introspects with tokenIntrospection and revokes with tokenRevocation', async () => {
    const app = await discover(firstParty, oidc.ClientSecretPost(firstParty.client_secret));
    const introspector = await discover(resourceServer, oidc.ClientSecretBasic(resourceServer.client_secret));
    const tokens = await oidc.genericGrantRequest(app, 'password', { username: 'alice', password: PASSWORD });

    const active = await oidc.tokenIntrospection(introspector, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: aliceId, client_id: 'first-party', token_type: 'Bearer' });
    expect((await oidc.tokenIntrospection(introspector, tokens.refresh_token!)).active).toBe(true);

    await oidc.tokenRevocation(app, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(await oidc.tokenIntrospection(introspector, tokens.refresh_token!)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(introspector, tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(app, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('surfaces invalid_scope as a ResponseBodyError', async () => {
    const config = await discover(service, oidc.ClientSecretBasic(service.client_secret));
    const failure = await oidc.clientCredentialsGrant(config, { scope: 'admin' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(oidc.ResponseBodyError);
    expect(failure).toMatchObject({ error: 'invalid_scope', status: 400 });
  });

  it('surfaces a wrong secret as invalid_client with a Basic challenge', async () => {
    const config = await discover(service, oidc.ClientSecretBasic('not-the-secret'));
    const failure = await oidc.clientCredentialsGrant(config).catch((error: unknown) => error);
    // A 401 with WWW-Authenticate becomes a challenge error; its body still says invalid_client.
    expect(failure).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    const challenge = failure as oidc.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]?.scheme).toBe('basic');
    expect(await challenge.response.json()).toMatchObject({ error: 'invalid_client' });
  });
});
