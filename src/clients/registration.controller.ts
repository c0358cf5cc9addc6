import { Controller, Delete, Get, Header, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { invalidRequest } from '../common/oauth-error';
import { ClientInformationResponse, DynamicRegistrationService } from './dynamic-registration.service';
import { isJsonContentType } from './registration-policy';

/** The JSON body of a registration or update request (RFC 7591 §3.1: application/json only). */
function jsonBody(request: FastifyRequest): unknown {
  if (!isJsonContentType(request.headers['content-type']))
    throw invalidRequest('the request body must be application/json client metadata (RFC 7591 section 3.1)');
  return request.body;
}

/** RFC 7591 dynamic client registration and RFC 7592 client configuration endpoints. */
@ApiTags('OAuth 2.0')
@Controller('oauth/register')
export class RegistrationController {
  constructor(private readonly registration: DynamicRegistrationService) {}

  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiConsumes('application/json')
  @ApiBearerAuth()
  @ApiCreatedResponse({ description: 'RFC 7591 §3.2.1 client information response, with registration_access_token and registration_client_uri' })
  register(@Req() request: FastifyRequest): Promise<ClientInformationResponse> {
    return this.registration.register(() => jsonBody(request), request.headers.authorization, request.ip);
  }

  @Get(':clientId')
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiBearerAuth()
  @ApiOkResponse({ description: 'RFC 7592 §3 client information response' })
  read(@Param('clientId') clientId: string, @Req() request: FastifyRequest): Promise<ClientInformationResponse> {
    return this.registration.read(clientId, request.headers.authorization);
  }

  @Put(':clientId')
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiConsumes('application/json')
  @ApiBearerAuth()
  @ApiOkResponse({ description: 'RFC 7592 §3 client information response after the update' })
  update(@Param('clientId') clientId: string, @Req() request: FastifyRequest): Promise<ClientInformationResponse> {
    return this.registration.update(clientId, () => jsonBody(request), request.headers.authorization, request.ip);
  }

  @Delete(':clientId')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  @ApiBearerAuth()
  @ApiNoContentResponse({ description: 'RFC 7592 §2.3: the client is deleted' })
  async delete(@Param('clientId') clientId: string, @Req() request: FastifyRequest): Promise<void> {
    await this.registration.delete(clientId, request.headers.authorization, request.ip);
  }
}
