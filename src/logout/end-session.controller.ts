import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/configuration';
import { sendPage } from '../pages/page-response';
import { errorPage, ErrorPageData, loggedOutPage, logoutCancelledPage, logoutConfirmPage } from '../pages/pages';
import { clearedSessionCookie, readSessionCookie } from '../sessions/session-cookie';
import { SessionsService } from '../sessions/sessions.service';
import { EndSessionRequest, EndSessionService, RawLogoutParams } from './end-session.service';
import { LogoutService } from './logout.service';

const isErrorPage = (value: EndSessionRequest | ErrorPageData): value is ErrorPageData => 'error' in value;

/**
 * The end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0). A request with a
 * valid id_token_hint for the current session logs out at once; any other request with a
 * signed-in session asks the user first (a form bound to the session's CSRF token).
 */
@ApiTags('OpenID Connect')
@Controller('oauth/logout')
export class EndSessionController {
  constructor(
    private readonly endSession: EndSessionService,
    private readonly logout: LogoutService,
    private readonly sessions: SessionsService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'End-session endpoint: signs the user out, then back to post_logout_redirect_uri' })
  async get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    return this.handle((request.query ?? {}) as RawLogoutParams, request, reply);
  }

  @Post()
  @ApiExcludeEndpoint()
  async post(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    return this.handle(this.body(request), request, reply);
  }

  /** The confirmation form's answer: Sign out, or Cancel. */
  @Post('confirm')
  @ApiExcludeEndpoint()
  async confirm(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const form = this.body(request);
    const validated = await this.endSession.validate({ ...form, id_token_hint: undefined });
    if (isErrorPage(validated)) return sendPage(reply, errorPage(validated));
    const session = await this.sessions.resolve(readSessionCookie(request));
    if (session) {
      const csrf = form.csrf_token;
      if (!this.sessions.csrfMatches(session, typeof csrf === 'string' ? csrf : undefined)) {
        return sendPage(
          reply,
          errorPage({
            status: 403,
            error: 'invalid_csrf_token',
            description: 'This form was not sent by the sign-out page of this service.',
            hint: 'Go back to the application and sign out again.',
          }),
        );
      }
      if (form.decision === 'cancel') return sendPage(reply, logoutCancelledPage());
      if (session.userId) return this.loggedOut(reply, validated, (await this.logout.logout(session, 'rp_initiated', request.ip)).frontChannelUris);
    }
    // No session any more (expired, or signed out meanwhile): there is nothing left to end.
    return this.loggedOut(reply, validated, []);
  }

  private async handle(raw: RawLogoutParams, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const validated = await this.endSession.validate(raw);
    if (isErrorPage(validated)) return sendPage(reply, errorPage(validated));
    const session = await this.sessions.resolve(readSessionCookie(request));
    if (!session?.userId) return this.loggedOut(reply, validated, []);
    if (this.endSession.matchesSession(validated, session)) {
      return this.loggedOut(reply, validated, (await this.logout.logout(session, 'rp_initiated', request.ip)).frontChannelUris);
    }
    return sendPage(reply, logoutConfirmPage({ csrfToken: session.csrfToken, params: validated.carry, clientName: validated.client?.clientName }));
  }

  /** Back to the client when it asked and nothing else must load first, else the signed-out page (with front-channel iframes). */
  private loggedOut(reply: FastifyReply, request: EndSessionRequest, frontChannelUris: string[]): FastifyReply {
    const cookie = { 'set-cookie': clearedSessionCookie(this.config) };
    if (request.redirectTo && frontChannelUris.length === 0) {
      return reply
        .status(303)
        .headers({ location: request.redirectTo, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', ...cookie })
        .send();
    }
    return sendPage(reply, loggedOutPage({ frontChannelUris, continueTo: request.redirectTo }), cookie);
  }

  private body(request: FastifyRequest): RawLogoutParams {
    return typeof request.body === 'object' && request.body !== null ? (request.body as RawLogoutParams) : {};
  }
}
