import { makeClient, oauthRejection } from '../../../test/unit/fixtures';
import { describe, expect, it } from 'vitest';
import { Client } from '../../clients/client.entity';
import { ClientCredentialsGrant } from './client-credentials.grant';

function client(overrides: Partial<Client> = {}): Client {
  return makeClient({ clientId: 'billing-service', grantTypes: ['client_credentials'], scopes: ['notes:read', 'notes:write'], ...overrides });
}

const grant = new ClientCredentialsGrant();

describe('ClientCredentialsGrant', () => {
  it('handles grant_type client_credentials', () => {
    expect(grant.grantType).toBe('client_credentials');
  });

  it('issues a stateless token whose subject is the client itself', async () => {
    const machine = client();
    const result = await grant.handle(machine, {});
    expect(result.client).toBe(machine);
    expect(result.subject).toBe('billing-service');
    expect(result.binding).toEqual({ kind: 'stateless' });
  });

  it('never asks for a refresh token, even when the client may use refresh_token', async () => {
    const result = await grant.handle(client({ grantTypes: ['client_credentials', 'refresh_token'] }), {});
    expect(result.binding).toEqual({ kind: 'stateless' });
    expect(result.binding).not.toHaveProperty('refreshToken');
  });

  it('ignores user credentials and refresh tokens in the request', async () => {
    const result = await grant.handle(client(), { username: 'alice', password: 'secret', refresh_token: 'rt' });
    expect(result.subject).toBe('billing-service');
    expect(result.binding).toEqual({ kind: 'stateless' });
  });

  it('refuses a public client with unauthorized_client', async () => {
    const error = await oauthRejection(() => grant.handle(client({ tokenEndpointAuthMethod: 'none' }), {}));
    expect(error.code).toBe('unauthorized_client');
    expect(error.status).toBe(400);
  });

  it('grants every scope of the client when none is requested', async () => {
    expect((await grant.handle(client(), {})).scopes).toEqual(['notes:read', 'notes:write']);
  });

  it('grants the requested scopes when they are within the client scopes', async () => {
    expect((await grant.handle(client(), { scope: 'notes:read' })).scopes).toEqual(['notes:read']);
  });

  it('refuses scopes the client was not registered for with invalid_scope', async () => {
    const error = await oauthRejection(() => grant.handle(client(), { scope: 'notes:read admin' }));
    expect(error.code).toBe('invalid_scope');
    expect(error.description).toContain('admin');
  });
});
