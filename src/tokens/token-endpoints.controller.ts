import { Controller, Header, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiConsumes, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ClientAuthGuard, CurrentClient } from '../clients/client-auth.guard';
import { AuthenticatedClient } from '../clients/client-authenticator';
import { FormBody, FormParams } from '../common/form';
import { IntrospectionResponse, IntrospectionService } from './introspection.service';
import { TokenRevoker } from './token-revoker';

@ApiTags('OAuth 2.0')
@Controller('oauth')
@UseGuards(ClientAuthGuard)
export class TokenEndpointsController {
  constructor(
    private readonly revoker: TokenRevoker,
    private readonly introspection: IntrospectionService,
  ) {}

  /** RFC 7009 token revocation. */
  @Post('revoke')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({ description: 'The token is revoked, or was unknown (RFC 7009 §2.2)' })
  async revoke(@CurrentClient() { client }: AuthenticatedClient, @FormBody() form: FormParams, @Req() request: FastifyRequest): Promise<void> {
    await this.revoker.revoke(client, form.token, form.token_type_hint, request.ip);
  }

  /** RFC 7662 token introspection. */
  @Post('introspect')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({ description: 'RFC 7662 introspection response' })
  introspect(@CurrentClient() { client }: AuthenticatedClient, @FormBody() form: FormParams): Promise<IntrospectionResponse> {
    return this.introspection.introspect(client, form.token, form.token_type_hint);
  }
}
