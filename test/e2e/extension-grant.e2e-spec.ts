import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrantContext, GrantStrategy, TokenGrantStrategy } from '../../src/auth/grants/grant-strategy';
import { resolveScopes } from '../../src/auth/scope-policy';
import { Client } from '../../src/clients/client.entity';
import { constantTimeEqual } from '../../src/common/crypto';
import { FormParams } from '../../src/common/form';
import { invalidGrant, invalidRequest } from '../../src/common/oauth-error';
import { TokenGrant } from '../../src/tokens/token-grant';
import { api, clientPost, expectOAuthError, JsonBody, jwtPayload, request, TokenSet } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const TEST_GRANT = 'urn:example:params:oauth:grant-type:test-grant';
const DEVICE_SECRET = 'the-device-secret';

/**
 * An extension grant (RFC 6749 §4.5) defined entirely outside Gatehouse's modules: a
 * device proves itself with a shared secret and gets tokens for `device:<device_id>`.
 */
@Injectable()
@TokenGrantStrategy()
class DeviceSecretGrant implements GrantStrategy {
  readonly grantType = TEST_GRANT;
  readonly seen: GrantContext[] = [];

  handle(client: Client, params: FormParams, context: GrantContext): Promise<TokenGrant> {
    this.seen.push(context);
    if (!params.device_id || !params.device_secret) return Promise.reject(invalidRequest('device_id and device_secret are required'));
    if (!constantTimeEqual(params.device_secret, DEVICE_SECRET)) return Promise.reject(invalidGrant('unknown device'));
    return Promise.resolve({
      client,
      subject: `device:${params.device_id}`,
      scopes: resolveScopes(params.scope, client.scopes),
      binding: { kind: 'new', grantType: this.grantType, refreshToken: client.grantTypes.includes('refresh_token') },
    });
  }
}

@Module({ providers: [DeviceSecretGrant] })
class DeviceGrantModule {}

/** A module can add a grant type without touching the token controller, the auth module or the metadata. */
describe('extension grant from a separate module', () => {
  let t: TestApp;
  let device: TestClient;
  let plain: TestClient;

  beforeAll(async () => {
    t = await startTestApp({ extensions: [DeviceGrantModule] });
    device = await t.createClient({ client_id: 'device-client', grant_types: [TEST_GRANT, 'refresh_token'], scope: 'notes:read notes:write' });
    plain = await t.createClient({ client_id: 'plain-client', grant_types: ['client_credentials'], scope: 'notes:read' });
  });
  afterAll(() => t?.close());

  const deviceGrant = (client: TestClient, params: Record<string, string | undefined>) =>
    clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', client, { grant_type: TEST_GRANT, ...params });

  it('is listed in grant_types_supported next to the built-in grants', async () => {
    const metadata = await request<{ grant_types_supported: string[] }>(`${t.baseUrl}/.well-known/oauth-authorization-server`);
    expect([...metadata.body.grant_types_supported].sort()).toEqual(
      ['authorization_code', 'client_credentials', 'implicit', 'password', 'refresh_token', TEST_GRANT].sort(),
    );
  });

  it('issues tokens through the token endpoint for a client registered for it', async () => {
    const result = await deviceGrant(device, { device_id: 'sensor-7', device_secret: DEVICE_SECRET, scope: 'notes:read' });
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.body.scope).toBe('notes:read');
    expect(jwtPayload(result.body.access_token)).toMatchObject({ sub: 'device:sensor-7', client_id: 'device-client', iss: t.config.issuer });

    const me = await api(t.baseUrl, '/api/me', result.body.access_token);
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ sub: 'device:sensor-7', client_id: 'device-client', scope: 'notes:read' });
  });

  it('gets the request context from the token endpoint', () => {
    const strategy = t.app.get(DeviceSecretGrant);
    expect(strategy.seen.length).toBeGreaterThan(0);
    expect(strategy.seen.at(-1)?.remoteAddress).toMatch(/127\.0\.0\.1/);
  });

  it('gets a refresh token that the built-in refresh_token grant honours', async () => {
    const first = await deviceGrant(device, { device_id: 'sensor-8', device_secret: DEVICE_SECRET });
    expect(typeof first.body.refresh_token).toBe('string');
    const refreshed = await clientPost<TokenSet & JsonBody>(t.baseUrl, '/oauth/token', device, {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token,
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(jwtPayload(refreshed.body.access_token).sub).toBe('device:sensor-8');
  });

  it("passes the strategy's own refusals to the client as RFC 6749 errors", async () => {
    expectOAuthError(await deviceGrant(device, { device_id: 'sensor-7', device_secret: 'wrong' }), 400, 'invalid_grant');
    expectOAuthError(await deviceGrant(device, { device_id: 'sensor-7' }), 400, 'invalid_request');
    expectOAuthError(await deviceGrant(device, { device_id: 'sensor-7', device_secret: DEVICE_SECRET, scope: 'admin' }), 400, 'invalid_scope');
  });

  it('is refused with unauthorized_client to a client not registered for it', async () => {
    expectOAuthError(await deviceGrant(plain, { device_id: 'sensor-7', device_secret: DEVICE_SECRET }), 400, 'unauthorized_client');
  });

  it('leaves the built-in grants working', async () => {
    const result = await clientPost(t.baseUrl, '/oauth/token', plain, { grant_type: 'client_credentials' });
    expect(result.status, result.text).toBe(200);
  });
});
