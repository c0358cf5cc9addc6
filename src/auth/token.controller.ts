import { Controller, Header, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiConsumes, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ClientAuthGuard, CurrentClient } from '../clients/client-auth.guard';
import { AuthenticatedClient } from '../clients/client-authenticator';
import { FormBody, FormParams } from '../common/form';
import { TokenResponse } from '../tokens/token-grant';
import { TokenEndpointService } from './token-endpoint.service';
import { TokenAddressThrottle, TokenClientThrottle } from './token-throttle.guard';

@ApiTags('OAuth 2.0')
@Controller('oauth')
export class TokenController {
  constructor(private readonly tokens: TokenEndpointService) {}

  /** RFC 6749 §3.2 token endpoint: every grant type, dispatched by the grant registry; rate limited per address and per client. */
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @UseGuards(TokenAddressThrottle, ClientAuthGuard, TokenClientThrottle)
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({ description: 'RFC 6749 §5.1 access token response' })
  token(@CurrentClient() client: AuthenticatedClient, @FormBody() form: FormParams, @Req() request: FastifyRequest): Promise<TokenResponse> {
    return this.tokens.exchange(client, form, { remoteAddress: request.ip });
  }
}
