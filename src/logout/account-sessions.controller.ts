import { Controller, Delete, Get, Headers, HttpCode, Param, Req, Res } from '@nestjs/common';
import { ApiCookieAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/configuration';
import { notFound, OAuthError } from '../common/oauth-error';
import { clearedSessionCookie, readSessionCookie } from '../sessions/session-cookie';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { RevocationService } from '../tokens/revocation.service';
import { LogoutService } from './logout.service';
import { GrantView, SessionGrantsStore, SessionView } from './session-grants.store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The signed-in user's sessions and grants (session cookie; changes also need the X-CSRF-Token header). */
@ApiTags('Account')
@ApiCookieAuth('gatehouse_session')
@Controller('account')
export class AccountSessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly store: SessionGrantsStore,
    private readonly logout: LogoutService,
    private readonly revocation: RevocationService,
    private readonly config: AppConfig,
  ) {}

  @Get('sessions')
  async list(@Req() request: FastifyRequest): Promise<SessionView[]> {
    const current = await this.signedIn(request);
    return (await this.store.liveSessions(current.userId!)).map((session) => ({
      id: session.id,
      created_at: session.createdAt.toISOString(),
      last_seen_at: session.lastSeenAt.toISOString(),
      current: session.id === current.id,
    }));
  }

  /** Logs a session out exactly like the end-session endpoint: its grants end, clients are told. */
  @Delete('sessions/:id')
  async end(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Param('id') id: string,
    @Headers('x-csrf-token') csrfToken?: string,
  ): Promise<FastifyReply> {
    const current = await this.changing(request, csrfToken);
    const target = UUID.test(id) ? (await this.store.liveSessions(current.userId!)).find((session) => session.id === id) : undefined;
    if (!target) throw notFound(`no active session ${id}`);
    const session = target.id === current.id ? current : ({ id: target.id, userId: current.userId } as Session);
    await this.logout.logout(session, 'account', request.ip);
    const headers: Record<string, string | string[]> = { 'cache-control': 'no-store' };
    if (session === current) headers['set-cookie'] = clearedSessionCookie(this.config);
    return reply.status(204).headers(headers).send();
  }

  @Get('grants')
  async grants(@Req() request: FastifyRequest): Promise<GrantView[]> {
    return this.store.activeGrants((await this.signedIn(request)).userId!);
  }

  /** Revokes one grant: its refresh tokens stop at once, its access tokens within a second. */
  @Delete('grants/:id')
  @HttpCode(204)
  async revoke(@Req() request: FastifyRequest, @Param('id') id: string, @Headers('x-csrf-token') csrfToken?: string): Promise<void> {
    const current = await this.changing(request, csrfToken);
    const grant = UUID.test(id) ? await this.store.activeGrant(current.userId!, id) : undefined;
    if (!grant) throw notFound(`no active grant ${id}`);
    await this.revocation.revokeGrant(grant.id, 'user_revoked', { clientId: grant.clientId, subject: current.userId!, remoteAddress: request.ip });
  }

  private async signedIn(request: FastifyRequest): Promise<Session> {
    const session = await this.sessions.resolve(readSessionCookie(request));
    if (!session?.userId) throw new OAuthError('login_required', 'sign in first', 401);
    return session;
  }

  /** A change: the session must be signed in and the request carry its CSRF token. */
  private async changing(request: FastifyRequest, csrfToken: string | undefined): Promise<Session> {
    const session = await this.signedIn(request);
    if (!this.sessions.csrfMatches(session, csrfToken)) throw new OAuthError('access_denied', 'the X-CSRF-Token header must carry the session CSRF token', 403);
    return session;
  }
}
