import { Injectable } from '@nestjs/common';
import { Client } from '../clients/client.entity';
import { ClientsService } from '../clients/clients.service';
import { AppConfig } from '../config/configuration';
import { ErrorPageData } from '../pages/pages';
import { Session } from '../sessions/session.entity';
import { IdTokenFactory } from '../tokens/id-token.factory';
import { SubjectIdentifiers } from '../tokens/subject-identifiers';

/** Raw parameters from the query or the form; arrays mark repeated parameters. */
export type RawLogoutParams = Record<string, string | string[] | undefined>;

/** A validated RP-Initiated Logout request: the redirect target, when any, is registered. */
export interface EndSessionRequest {
  client?: Client;
  /** The claims of a valid id_token_hint (our signature and issuer; expiry ignored). */
  hint?: { sub: string; sid?: string };
  /** post_logout_redirect_uri with state added, ready to redirect to. */
  redirectTo?: string;
  /** What a confirmation form must carry to make the same request again (without the hint). */
  carry: Record<string, string>;
}

const MAX_PARAMETER_LENGTH = 8192;
const PARAMETERS = ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'ui_locales', 'logout_hint'];

const invalid = (description: string, hint?: string): ErrorPageData => ({ status: 400, error: 'invalid_request', description, hint });

/**
 * OpenID Connect RP-Initiated Logout 1.0 §2-§3: validates the end-session request. A
 * post_logout_redirect_uri is honoured only when it is registered exactly for the client
 * named by client_id or by the id_token_hint; anything doubtful is an error page, never a
 * redirect.
 */
@Injectable()
export class EndSessionService {
  constructor(
    private readonly clients: ClientsService,
    private readonly idTokens: IdTokenFactory,
    private readonly subjects: SubjectIdentifiers,
    private readonly config: AppConfig,
  ) {}

  async validate(raw: RawLogoutParams): Promise<EndSessionRequest | ErrorPageData> {
    const params: Record<string, string> = {};
    for (const name of PARAMETERS) {
      const value = raw[name];
      if (Array.isArray(value)) return invalid(`The parameter ${name} is repeated.`);
      if (typeof value !== 'string' || value === '') continue;
      if (value.length > MAX_PARAMETER_LENGTH) return invalid(`The parameter ${name} is too long.`);
      params[name] = value;
    }

    let hint: { sub: string; sid?: string; clientId?: string; audiences: string[] } | undefined;
    if (params.id_token_hint !== undefined) {
      const claims = await this.idTokens.verifyIssued(params.id_token_hint);
      if (!claims) {
        return invalid('The id_token_hint is not an ID token issued by this service.', 'Go back to the application and sign out from there again.');
      }
      const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud as string[]);
      const clientId = audiences.length === 1 ? audiences[0] : typeof claims.azp === 'string' ? claims.azp : undefined;
      hint = { sub: claims.sub as string, sid: typeof claims.sid === 'string' ? claims.sid : undefined, clientId, audiences };
    }

    if (params.client_id !== undefined && hint && !hint.audiences.includes(params.client_id)) {
      return invalid('The client_id does not match the id_token_hint.');
    }
    const clientId = params.client_id ?? hint?.clientId;
    let client: Client | undefined;
    if (clientId !== undefined) {
      client = (clientId.length <= 256 ? await this.clients.find(clientId) : null) ?? undefined;
      if (!client && params.client_id !== undefined) {
        return { status: 400, error: 'invalid_client', description: 'The application that sent you here is not registered with this service.' };
      }
    }

    let redirectTo: string | undefined;
    if (params.post_logout_redirect_uri !== undefined) {
      if (!client) {
        return invalid('A post_logout_redirect_uri needs the client to be identified (id_token_hint or client_id).');
      }
      const registered = client.metadata.post_logout_redirect_uris;
      if (!Array.isArray(registered) || !registered.includes(params.post_logout_redirect_uri)) {
        return invalid(
          'The post_logout_redirect_uri is not registered for this application.',
          'The application must send exactly one of its registered post_logout_redirect_uris.',
        );
      }
      // The registered URI byte for byte, its own query kept; state appended (§3).
      const uri = params.post_logout_redirect_uri;
      redirectTo = params.state === undefined ? uri : `${uri}${uri.includes('?') ? '&' : '?'}state=${encodeURIComponent(params.state)}`;
    }

    const carry: Record<string, string> = {};
    if (client) carry.client_id = client.clientId;
    for (const name of ['post_logout_redirect_uri', 'state', 'ui_locales']) if (params[name] !== undefined) carry[name] = params[name];
    return { client, hint: hint && { sub: hint.sub, sid: hint.sid }, redirectTo, carry };
  }

  /** Whether a valid hint names this very session: by sid, or (no sid) by the subject as the client knows it. */
  matchesSession(request: EndSessionRequest, session: Session): boolean {
    if (!request.hint || !session.userId) return false;
    if (request.hint.sid !== undefined) return request.hint.sid === session.id;
    return request.client !== undefined && request.hint.sub === this.subjects.subjectFor(request.client, session.userId);
  }
}
