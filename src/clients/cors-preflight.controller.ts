import { Controller, Headers, Options, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CorsPolicy } from './cors-policy';

/** CORS preflight for the endpoints single-page apps call with their client id. */
@ApiExcludeController()
@Controller('oauth')
export class CorsPreflightController {
  constructor(private readonly cors: CorsPolicy) {}

  @Options(['token', 'revoke'])
  preflight(@Res() reply: FastifyReply, @Headers('origin') origin?: string): Promise<FastifyReply> {
    return this.cors.preflight(reply, origin);
  }
}
