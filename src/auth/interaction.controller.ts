import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/configuration';
import { FormParams, readForm } from '../common/form';
import { sendPage } from '../pages/page-response';
import { errorPage, loggedOutPage, loginPage, signedInPage } from '../pages/pages';
import { LogoutService } from '../logout/logout.service';
import { clearedSessionCookie, readSessionCookie, sessionCookie, signedInCookies } from '../sessions/session-cookie';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { InteractionFailure, InteractionService } from './interaction.service';
import { InteractionResponder } from './interaction-responder';

const UNAUTHORIZED_LOGIN = 'The username or password is not correct, or the account cannot sign in right now.';

/** The login, consent and logout forms of the browser flows. */
@ApiExcludeController()
@Controller()
export class InteractionController {
  constructor(
    private readonly interactions: InteractionService,
    private readonly sessions: SessionsService,
    private readonly responder: InteractionResponder,
    private readonly config: AppConfig,
    private readonly logoutService: LogoutService,
  ) {}

  /** A sign-in page of its own, without an application (e.g. to manage consents). */
  @Get('login')
  async loginPage(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    let session = await this.sessions.resolve(readSessionCookie(request));
    let cookie: Record<string, string> = {};
    if (!session) {
      const started = await this.sessions.start();
      session = started.session;
      cookie = { 'set-cookie': sessionCookie(started.cookieValue, this.config) };
    }
    return sendPage(reply, loginPage({ csrfToken: session.csrfToken, returnTo: '' }), cookie);
  }

  @Post('login')
  async login(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const submitted = await this.trustedForm(request);
    if (submitted.kind === 'failure') return this.fail(reply, submitted);
    const result = await this.interactions.login(submitted.session, submitted.form, request.ip);
    switch (result.kind) {
      case 'failure':
        return this.fail(reply, result);
      case 'retry':
        return sendPage(reply, loginPage({ ...result, status: 401, error: UNAUTHORIZED_LOGIN }));
      case 'signed-in': {
        const cookie = { 'set-cookie': signedInCookies(result.cookieValue, this.sessions.browserState(result.sessionId), this.config) };
        if (!result.returnTo) return sendPage(reply, signedInPage(result.username, result.csrfToken), cookie);
        return reply
          .status(303)
          .headers({ location: `/oauth/authorize?${result.returnTo}`, 'cache-control': 'no-store', ...cookie })
          .send();
      }
    }
  }

  @Post('consent')
  async consent(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const submitted = await this.trustedForm(request);
    if (submitted.kind === 'failure') return this.fail(reply, submitted);
    const { session } = submitted;
    const result = await this.interactions.consent(session, submitted.form, request.ip);
    if (result.kind === 'failure') return this.fail(reply, result);
    if (result.kind === 'continue')
      return reply
        .status(303)
        .headers({ location: `/oauth/authorize?${result.returnTo}`, 'cache-control': 'no-store' })
        .send();
    return this.responder.send(reply, result, session, 303);
  }

  /** Ends the browser session (the CSRF token proves the form came from our page). */
  @Post('logout')
  async logout(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const form = readForm(request);
    const cookieValue = readSessionCookie(request);
    const session = await this.sessions.resolve(cookieValue);
    let frontChannelUris: string[] = [];
    if (session) {
      const refused = this.interactions.checkForm(session, true, form);
      if (refused) return this.fail(reply, refused);
      // The full logout: the session's grants end and its clients are told (src/logout/).
      ({ frontChannelUris } = await this.logoutService.logout(session, 'user', request.ip));
    }
    return sendPage(reply, loggedOutPage({ frontChannelUris }), { 'set-cookie': clearedSessionCookie(this.config) });
  }

  /** A form post with its session, once the session cookie and CSRF token are checked. */
  private async trustedForm(request: FastifyRequest): Promise<InteractionFailure | { kind: 'trusted'; form: FormParams; session: Session }> {
    const form = readForm(request);
    const cookieValue = readSessionCookie(request);
    const session = await this.sessions.resolve(cookieValue);
    const refused = this.interactions.checkForm(session, cookieValue !== undefined, form);
    return refused ?? { kind: 'trusted', form, session: session! };
  }

  private fail(reply: FastifyReply, failure: InteractionFailure): FastifyReply {
    return sendPage(reply, errorPage(failure), failure.headers ?? {});
  }
}
