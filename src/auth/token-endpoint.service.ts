import { Injectable } from '@nestjs/common';
import { AuthenticatedClient } from '../clients/client-authenticator';
import { FormParams } from '../common/form';
import { unauthorizedClient } from '../common/oauth-error';
import { memoizedDtoValidator } from '../common/validate';
import { TokenIssuer } from '../tokens/token-issuer';
import { TokenResponse } from '../tokens/token-grant';
import { TOKEN_REQUEST_FIELDS, TokenRequestDto } from './dto/token-request.dto';
import { GrantContext } from './grants/grant-strategy';
import { GrantRegistry } from './grants/grant-registry';

/**
 * POST /oauth/token after client authentication: pick the grant strategy by
 * `grant_type`, check the client may use it, let it decide, let the issuer mint.
 */
const validateTokenRequest = memoizedDtoValidator(TokenRequestDto, TOKEN_REQUEST_FIELDS);

@Injectable()
export class TokenEndpointService {
  constructor(
    private readonly grants: GrantRegistry,
    private readonly issuer: TokenIssuer,
  ) {}

  async exchange({ client }: AuthenticatedClient, params: FormParams, context: GrantContext): Promise<TokenResponse> {
    const { grant_type: grantType } = validateTokenRequest(params);
    const strategy = this.grants.get(grantType);
    if (!client.grantTypes.includes(grantType)) throw unauthorizedClient(`this client may not use the ${grantType} grant`);
    return this.issuer.issue(await strategy.handle(client, params, context));
  }
}
