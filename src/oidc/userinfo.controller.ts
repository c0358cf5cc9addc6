import { Controller, Get, Headers, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalidRequest } from '../common/oauth-error';
import { UserInfoService } from './userinfo.service';

/** The bearer token from the Authorization header or (POST) the form body (RFC 6750 §2.1, §2.2), never both. */
function bearerToken(authorization: string | undefined, request: FastifyRequest): string | undefined {
  const body = request.method === 'POST' && typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, unknown>) : {};
  const fromBody = typeof body.access_token === 'string' ? body.access_token : undefined;
  const fromHeader = authorization && /^Bearer\s+/i.test(authorization) ? authorization.replace(/^Bearer\s+/i, '').trim() : undefined;
  if (fromBody && fromHeader) throw invalidRequest('send the access token in one place only');
  return fromHeader ?? fromBody;
}

@ApiTags('OpenID Connect')
@ApiBearerAuth()
@Controller('oauth/userinfo')
export class UserInfoController {
  constructor(private readonly userInfo: UserInfoService) {}

  @Get()
  @ApiOkResponse({ description: 'OpenID Connect UserInfo: the claims the token’s scopes release' })
  get(@Headers('authorization') authorization: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    return this.respond(bearerToken(authorization, request), reply);
  }

  @Post()
  @HttpCode(200)
  post(@Headers('authorization') authorization: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    return this.respond(bearerToken(authorization, request), reply);
  }

  private async respond(token: string | undefined, reply: FastifyReply): Promise<FastifyReply> {
    const response = await this.userInfo.userInfo(token);
    reply.header('cache-control', 'no-store');
    if (response.kind === 'jwt') return reply.header('content-type', 'application/jwt').send(response.token);
    return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(response.claims));
  }
}
