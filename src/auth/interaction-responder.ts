import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppConfig } from '../config/configuration';
import { formTarget } from '../pages/html';
import { sendPage } from '../pages/page-response';
import { consentPage, errorPage, formPostPage, loginPage } from '../pages/pages';
import { sessionCookie } from '../sessions/session-cookie';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { AuthorizeOutcome } from './authorize.service';

/**
 * Turns an authorization outcome into the browser's response: a redirect to the
 * client, an auto-submitting form, or a page. Login and consent pages carry the CSRF
 * token of the browser's session, creating an anonymous session when there is none.
 */
@Injectable()
export class InteractionResponder {
  constructor(
    private readonly sessions: SessionsService,
    private readonly config: AppConfig,
  ) {}

  async send(reply: FastifyReply, outcome: AuthorizeOutcome, session: Session | undefined, redirectStatus = 302): Promise<FastifyReply> {
    switch (outcome.kind) {
      case 'redirect':
        return reply.status(redirectStatus).headers({ location: outcome.url, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).send();
      case 'form-post':
        return sendPage(reply, formPostPage(outcome.action, outcome.params));
      case 'error-page':
        return sendPage(reply, errorPage(outcome));
      case 'login': {
        let cookie: string | undefined;
        if (!session) {
          const started = await this.sessions.start();
          session = started.session;
          cookie = sessionCookie(started.cookieValue, this.config);
        }
        const page = loginPage({
          csrfToken: session.csrfToken,
          returnTo: outcome.returnTo,
          clientName: outcome.request.client.clientName ?? outcome.request.client.clientId,
          username: outcome.loginHint,
          formTargets: [formTarget(outcome.request.redirectUri)],
        });
        return sendPage(reply, page, cookie ? { 'set-cookie': cookie } : {});
      }
      case 'consent':
        return sendPage(
          reply,
          consentPage({
            csrfToken: session!.csrfToken,
            returnTo: outcome.returnTo,
            clientName: outcome.request.client.clientName ?? outcome.request.client.clientId,
            clientId: outcome.request.client.clientId,
            scopes: outcome.request.scopes,
            username: outcome.user.username,
            formTargets: [formTarget(outcome.request.redirectUri)],
          }),
        );
    }
  }
}
