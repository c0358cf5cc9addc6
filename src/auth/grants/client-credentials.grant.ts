import { Injectable } from '@nestjs/common';
import { unauthorizedClient } from '../../common/oauth-error';
import { Client } from '../../clients/client.entity';
import { FormParams } from '../../common/form';
import { TokenGrant } from '../../tokens/token-grant';
import { resolveScopes } from '../scope-policy';
import { GrantContext, GrantStrategy, TokenGrantStrategy } from './grant-strategy';

/**
 * RFC 6749 §4.4: a confidential client obtains a token for itself. The token is
 * stateless (no row is written) and comes without a refresh token (§4.4.3).
 */
@Injectable()
@TokenGrantStrategy()
export class ClientCredentialsGrant implements GrantStrategy {
  readonly grantType = 'client_credentials';

  handle(client: Client, params: FormParams, context: GrantContext = {}): Promise<TokenGrant> {
    if (client.isPublic) throw unauthorizedClient('client_credentials needs a confidential client');
    return Promise.resolve({
      client,
      subject: client.clientId,
      scopes: resolveScopes(params.scope, client.scopes),
      binding: { kind: 'stateless' },
      grantType: this.grantType,
      remoteAddress: context.remoteAddress,
    });
  }
}
