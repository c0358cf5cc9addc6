import { Controller, Delete, Get, Headers, HttpCode, Param, Req } from '@nestjs/common';
import { ApiCookieAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../common/oauth-error';
import { AccountService, ConsentView } from './account.service';
import { readSessionCookie } from './session-cookie';
import { Session } from './session.entity';
import { SessionsService } from './sessions.service';

/** JSON endpoints for the signed-in user (session cookie; changes also need the X-CSRF-Token header). */
@ApiTags('Account')
@ApiCookieAuth('gatehouse_session')
@Controller('account')
export class AccountController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly account: AccountService,
  ) {}

  @Get('session')
  async session(@Req() request: FastifyRequest): Promise<Record<string, unknown>> {
    return this.account.session(await this.signedIn(request));
  }

  @Get('consents')
  async consents(@Req() request: FastifyRequest): Promise<ConsentView[]> {
    return this.account.consentsOf((await this.signedIn(request)).userId!);
  }

  /** Withdraws a consent; the client's tokens for this user stop working. */
  @Delete('consents/:clientId')
  @HttpCode(204)
  async withdraw(@Req() request: FastifyRequest, @Param('clientId') clientId: string, @Headers('x-csrf-token') csrfToken?: string): Promise<void> {
    const session = await this.signedIn(request);
    if (!this.sessions.csrfMatches(session, csrfToken)) throw new OAuthError('access_denied', 'the X-CSRF-Token header must carry the session CSRF token', 403);
    await this.account.withdraw(session.userId!, clientId, request.ip);
  }

  private async signedIn(request: FastifyRequest): Promise<Session> {
    const session = await this.sessions.resolve(readSessionCookie(request));
    if (!session?.userId) throw new OAuthError('login_required', 'sign in first', 401);
    return session;
  }
}
