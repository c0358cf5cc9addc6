import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readSessionCookie } from '../sessions/session-cookie';
import { SessionsService } from '../sessions/sessions.service';
import { AuthorizeService, RawParams } from './authorize.service';
import { InteractionResponder } from './interaction-responder';

@ApiTags('OAuth 2.0')
@Controller('oauth/authorize')
export class AuthorizeController {
  constructor(
    private readonly authorization: AuthorizeService,
    private readonly sessions: SessionsService,
    private readonly responder: InteractionResponder,
  ) {}

  /** RFC 6749 §3.1 authorization endpoint (response_type code or token). */
  @Get()
  @ApiOperation({ summary: 'Authorization endpoint: redirects the browser back to the client with a code (or, implicit, a token)' })
  async get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    return this.handle(request.query as RawParams, request, reply, 302);
  }

  /** The same endpoint with the parameters in a form body (OpenID Connect Core §3.1.2.1). */
  @Post()
  @ApiExcludeEndpoint()
  async post(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const body = typeof request.body === 'object' && request.body !== null ? (request.body as RawParams) : {};
    return this.handle(body, request, reply, 303);
  }

  private async handle(params: RawParams, request: FastifyRequest, reply: FastifyReply, redirectStatus: number): Promise<FastifyReply> {
    const session = await this.sessions.resolve(readSessionCookie(request));
    return this.responder.send(reply, await this.authorization.authorize(params, session, request.ip), session, redirectStatus);
  }
}
