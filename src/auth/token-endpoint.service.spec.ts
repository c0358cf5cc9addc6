import { DiscoveryService } from '@nestjs/core';
import { makeClient, oauthRejection } from '../../test/unit/fixtures';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthenticatedClient } from '../clients/client-authenticator';
import { Client } from '../clients/client.entity';
import { FormParams } from '../common/form';
import { OAuthError } from '../common/oauth-error';
import { TokenIssuer } from '../tokens/token-issuer';
import { TokenGrant, TokenResponse } from '../tokens/token-grant';
import { GrantRegistry } from './grants/grant-registry';
import { GrantContext, GrantStrategy } from './grants/grant-strategy';
import { TokenEndpointService } from './token-endpoint.service';

function authenticated(grantTypes: string[]): AuthenticatedClient {
  const client = makeClient({ clientId: 'app', grantTypes, scopes: ['notes:read'] });
  return { client, method: 'client_secret_basic' };
}

const RESPONSE: TokenResponse = { access_token: 'at', token_type: 'Bearer', expires_in: 900, scope: 'notes:read' };

let handle: ReturnType<typeof vi.fn<GrantStrategy['handle']>>;
let issue: ReturnType<typeof vi.fn<TokenIssuer['issue']>>;
let service: TokenEndpointService;
let decided: TokenGrant | undefined;

beforeEach(() => {
  handle = vi.fn<GrantStrategy['handle']>(async (client: Client) => {
    decided = { client, subject: 'app', scopes: ['notes:read'], binding: { kind: 'stateless' } };
    return decided;
  });
  issue = vi.fn<TokenIssuer['issue']>().mockResolvedValue(RESPONSE);
  const grants = new GrantRegistry({} as DiscoveryService);
  grants.register({ grantType: 'client_credentials', handle });
  grants.register({ grantType: 'password', handle: vi.fn() });
  service = new TokenEndpointService(grants, { issue } as unknown as TokenIssuer);
});

describe('TokenEndpointService.exchange', () => {
  it('answers invalid_request when grant_type is missing', async () => {
    const error = await oauthRejection(() => service.exchange(authenticated(['client_credentials']), { scope: 'notes:read' }, {}));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toBe('grant_type is required');
    expect(handle).not.toHaveBeenCalled();
  });

  it('answers invalid_request when grant_type is malformed', async () => {
    for (const grantType of ['Client Credentials', 'x'.repeat(300), 'client_credentials\n']) {
      const error = await oauthRejection(() => service.exchange(authenticated(['client_credentials']), { grant_type: grantType }, {}));
      expect(error.code).toBe('invalid_request');
    }
    expect(handle).not.toHaveBeenCalled();
  });

  it('answers unsupported_grant_type for a grant type no strategy handles, even one the client lists', async () => {
    const error = await oauthRejection(() => service.exchange(authenticated(['authorization_code']), { grant_type: 'authorization_code' }, {}));
    expect(error.code).toBe('unsupported_grant_type');
    expect((await oauthRejection(() => service.exchange(authenticated([]), { grant_type: 'urn:example:magic' }, {}))).code).toBe('unsupported_grant_type');
  });

  it('answers unauthorized_client when the client may not use a supported grant type, before the strategy runs', async () => {
    const error = await oauthRejection(() => service.exchange(authenticated(['password']), { grant_type: 'client_credentials' }, {}));
    expect(error.code).toBe('unauthorized_client');
    expect(error.status).toBe(400);
    expect(error.description).toContain('client_credentials');
    expect(handle).not.toHaveBeenCalled();
    expect(issue).not.toHaveBeenCalled();
  });

  it('dispatches to the strategy of the grant type with the client, all parameters and the context', async () => {
    const caller = authenticated(['client_credentials']);
    const params: FormParams = { grant_type: 'client_credentials', scope: 'notes:read', extra: 'kept' };
    const context: GrantContext = { remoteAddress: '203.0.113.7' };
    await service.exchange(caller, params, context);
    expect(handle).toHaveBeenCalledTimes(1);
    expect(handle).toHaveBeenCalledWith(caller.client, params, context);
  });

  it("hands the strategy's TokenGrant to the issuer and answers the issuer's response", async () => {
    const response = await service.exchange(authenticated(['client_credentials']), { grant_type: 'client_credentials' }, {});
    expect(issue).toHaveBeenCalledTimes(1);
    expect(issue.mock.calls[0][0]).toBe(decided);
    expect(response).toBe(RESPONSE);
  });

  it('issues nothing when the strategy refuses', async () => {
    handle.mockRejectedValueOnce(new OAuthError('invalid_scope', 'scope not allowed: admin'));
    const error = await oauthRejection(() => service.exchange(authenticated(['client_credentials']), { grant_type: 'client_credentials', scope: 'admin' }, {}));
    expect(error.code).toBe('invalid_scope');
    expect(issue).not.toHaveBeenCalled();
  });
});
