import { expect } from 'vitest';
import { Client } from '../../src/clients/client.entity';
import { OAuthError } from '../../src/common/oauth-error';

/** A registered client for unit tests: a confidential first-party app unless overridden. */
export function makeClient(overrides: Partial<Client> = {}): Client {
  return Object.assign(new Client(), {
    clientId: 'mobile-app',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: ['password', 'refresh_token'],
    responseTypes: [],
    redirectUris: [],
    scopes: ['openid', 'notes:read', 'notes:write'],
    audience: [],
    accessTokenTtl: null,
    refreshTokenTtl: null,
    ...overrides,
  });
}

/** The OAuthError that `run` rejects with; fails the test when it resolves or throws something else. */
export async function oauthRejection(run: () => Promise<unknown>): Promise<OAuthError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, the call succeeded');
}
