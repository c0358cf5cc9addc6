import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AppConfig } from '../config/configuration';
import { FormParams } from '../common/form';
import { RateLimits } from '../rate-limit/rate-limits';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { UsersService } from '../users/users.service';
import { AuthorizeOutcome, AuthorizeService, RawParams } from './authorize.service';

/** The browser's request could not be trusted or handled: shown as an error page. */
export interface InteractionFailure {
  kind: 'failure';
  status: number;
  error: string;
  description: string;
  hint?: string;
  headers?: Record<string, string>;
}

export type LoginResult =
  | InteractionFailure
  | { kind: 'retry'; csrfToken: string; returnTo: string; username: string; clientName?: string }
  | { kind: 'signed-in'; cookieValue: string; sessionId: string; returnTo: string; username: string; csrfToken: string };

export type ConsentResult = InteractionFailure | { kind: 'continue'; returnTo: string } | AuthorizeOutcome;

/**
 * The login and consent forms behind the authorization endpoint. Every form must come
 * with the session cookie and that session's CSRF token; sign-in is throttled per client
 * address (shared by all instances) and per account (lockout); failures never tell
 * whether the username exists.
 */
@Injectable()
export class InteractionService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly authorization: AuthorizeService,
    private readonly rateLimits: RateLimits,
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
  ) {}

  /** Checks the session cookie and CSRF token of a form post. */
  checkForm(session: Session | undefined, hadCookie: boolean, form: FormParams): InteractionFailure | undefined {
    if (!hadCookie) {
      return failure(
        400,
        'session_cookie_missing',
        'Your browser did not send the sign-in cookie of this service.',
        'Allow cookies for this site and try again. Operators: behind a TLS-terminating proxy, set ISSUER to the public https URL and TRUST_PROXY so that the cookie and its Secure flag match what the browser sees.',
      );
    }
    if (!session) return failure(400, 'session_expired', 'Your sign-in page has expired.', 'Go back to the application and start again.');
    if (!this.sessions.csrfMatches(session, form.csrf_token)) {
      return failure(403, 'invalid_csrf_token', 'This form was not sent by the sign-in page of this service.', 'Go back to the application and start again.');
    }
    return undefined;
  }

  async login(session: Session, form: FormParams, remoteAddress: string): Promise<LoginResult> {
    const returnTo = form.return_to ?? '';
    const username = (form.username ?? '').slice(0, 255);
    const throttle = await this.rateLimits.signIn.takeExact(remoteAddress);
    if (!throttle.allowed) {
      return failure(429, 'too_many_requests', 'Too many sign-in attempts from your network.', `Wait ${throttle.retryAfter} seconds and try again.`, {
        'retry-after': String(throttle.retryAfter),
      });
    }
    // The client's name is looked up only to show the login page again.
    if (!username || !form.password) return { kind: 'retry', csrfToken: session.csrfToken, returnTo, username, clientName: await this.clientName(returnTo) };
    const result = await this.users.login(username, form.password, { via: 'login_page', remoteAddress });
    if (!result.ok) return { kind: 'retry', csrfToken: session.csrfToken, returnTo, username, clientName: await this.clientName(returnTo) };
    const signedIn = await this.sessions.signIn(session, result.user.id);
    void this.audit.record('session.started', { subject: result.user.id, remoteAddress, details: { session_id: signedIn.session.id } });
    return {
      kind: 'signed-in',
      cookieValue: signedIn.cookieValue,
      sessionId: signedIn.session.id,
      returnTo,
      username: result.user.username,
      csrfToken: signedIn.session.csrfToken,
    };
  }

  async consent(session: Session, form: FormParams, remoteAddress?: string): Promise<ConsentResult> {
    const params = Object.fromEntries(new URLSearchParams(form.return_to ?? '')) as RawParams;
    if (!session.userId) return failure(400, 'session_expired', 'You are not signed in any more.', 'Go back to the application and start again.');
    if (form.decision === 'allow') return this.authorization.allow(params, session, remoteAddress);
    if (form.decision === 'deny') return this.authorization.deny(params);
    return failure(400, 'invalid_request', 'The form did not say whether to allow or deny.');
  }

  private async clientName(returnTo: string): Promise<string | undefined> {
    const params = Object.fromEntries(new URLSearchParams(returnTo)) as RawParams;
    const validated = returnTo ? await this.authorization.validate(params) : undefined;
    return validated && !('kind' in validated) ? (validated.client.clientName ?? validated.client.clientId) : undefined;
  }
}

function failure(status: number, error: string, description: string, hint?: string, headers?: Record<string, string>): InteractionFailure {
  return { kind: 'failure', status, error, description, hint, headers };
}
