import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AppConfig } from '../config/configuration';
import { Client } from '../clients/client.entity';
import { ClientsService } from '../clients/clients.service';
import { MAX_PARAMETER_COUNT, MAX_PARAMETER_LENGTH } from '../common/form';
import { describable, OAuthError } from '../common/oauth-error';
import { ConsentsService } from '../sessions/consents.service';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { TokenIssuer } from '../tokens/token-issuer';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { AuthorizationCodesService } from './authorization-codes.service';
import { resolveScopes } from './scope-policy';
import { ClaimsRequest, parseClaimsRequest } from '../oidc/claims';
import { IdTokenFactory } from '../tokens/id-token.factory';
import { SubjectIdentifiers } from '../tokens/subject-identifiers';

export type ResponseMode = 'query' | 'fragment' | 'form_post';

/** A validated authorization request: the client and redirect URI are trusted from here on. */
export interface AuthorizationRequest {
  client: Client;
  redirectUri: string;
  redirectUriGiven: boolean;
  /** Normalised: its parts in the order code, id_token, token. */
  responseType: string;
  /** The parts of the response type: code, token, id_token. */
  responseParts: Set<string>;
  responseMode: ResponseMode;
  state?: string;
  scopes: string[];
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
  prompt: Set<string>;
  nonce?: string;
  /** Seconds since authentication after which the user must sign in again (max_age). */
  maxAge?: number;
  loginHint?: string;
  /** The subject named by a valid id_token_hint. */
  hintedSubject?: string;
  claims?: ClaimsRequest;
  /** The request's parameters, to come back to the authorization endpoint after login or consent. */
  params: Record<string, string>;
}

/** What the authorization endpoint answers; the controller turns it into HTTP. */
export type AuthorizeOutcome =
  | { kind: 'error-page'; status: number; error: string; description: string; hint?: string }
  | { kind: 'redirect'; url: string }
  | { kind: 'form-post'; action: string; params: Record<string, string> }
  | { kind: 'login'; request: AuthorizationRequest; returnTo: string; loginHint?: string }
  | { kind: 'consent'; request: AuthorizationRequest; user: User; returnTo: string };

/** Raw parameters from the query or the form; arrays mark repeated parameters. */
export type RawParams = Record<string, string | string[] | undefined>;

/** Response types Gatehouse implements (OAuth 2.0 and OpenID Connect, including hybrid). */
export const RESPONSE_TYPES = ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'];
const PART_ORDER = ['code', 'id_token', 'token'];

/** A response type with its parts in canonical order, so that "token id_token" equals "id_token token". */
export function normaliseResponseType(value: string): string {
  const parts = value.split(' ').filter(Boolean);
  return [...new Set(parts)].sort((a, b) => PART_ORDER.indexOf(a) - PART_ORDER.indexOf(b)).join(' ');
}
const RESPONSE_MODES = new Set<ResponseMode>(['query', 'fragment', 'form_post']);
const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;

class RedirectableError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/**
 * The authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.2.1; RFC 7636; RFC 9207):
 * validates the request, then decides between the login page, the consent page, and
 * the response to the client. An unknown client or a redirect URI that is not registered
 * exactly is shown as an error page and never redirected to; every later error goes back
 * to the redirect URI with `error`, `error_description`, `state` and `iss`.
 */
@Injectable()
export class AuthorizeService {
  constructor(
    private readonly clients: ClientsService,
    private readonly users: UsersService,
    private readonly consents: ConsentsService,
    private readonly codes: AuthorizationCodesService,
    private readonly issuer: TokenIssuer,
    private readonly idTokens: IdTokenFactory,
    private readonly subjects: SubjectIdentifiers,
    private readonly sessions: SessionsService,
    private readonly config: AppConfig,
    private readonly audit: AuditLog,
  ) {}

  async authorize(raw: RawParams, session: Session | undefined, remoteAddress?: string): Promise<AuthorizeOutcome> {
    const validated = await this.validate(raw);
    if ('kind' in validated) return validated;
    const request = validated;

    const user = session?.userId ? await this.users.findBySubject(session.userId) : null;
    const signedIn = session !== undefined && user !== null && !user.disabled;
    const tooOld = signedIn && request.maxAge !== undefined && (session.authTime?.getTime() ?? 0) + request.maxAge * 1000 < Date.now();
    const otherUser = signedIn && request.hintedSubject !== undefined && request.hintedSubject !== this.subjects.subjectFor(request.client, user.id);
    if (!signedIn || request.prompt.has('login') || tooOld || otherUser) {
      if (request.prompt.has('none')) return this.errorResponse(request, 'login_required', 'the user must sign in');
      return { kind: 'login', request, returnTo: this.returnTo(request, 'login'), loginHint: request.loginHint };
    }
    const consented = request.client.firstParty || (await this.consents.covers(user.id, request.client.clientId, request.scopes));
    if (!consented || request.prompt.has('consent')) {
      if (request.prompt.has('none')) return this.errorResponse(request, 'consent_required', 'the user has not allowed this client');
      return { kind: 'consent', request, user, returnTo: this.returnTo(request, 'consent') };
    }
    return this.issue(request, user, session, remoteAddress);
  }

  /** The user allowed the request: remember it and continue. */
  async allow(raw: RawParams, session: Session, remoteAddress?: string): Promise<AuthorizeOutcome | { kind: 'continue'; returnTo: string }> {
    const validated = await this.validate(raw);
    if ('kind' in validated) return validated;
    if (!session.userId) return { kind: 'continue', returnTo: new URLSearchParams(validated.params).toString() };
    await this.consents.grant(session.userId, validated.client.clientId, validated.scopes);
    void this.audit.record('consent.granted', {
      subject: session.userId,
      clientId: validated.client.clientId,
      remoteAddress,
      details: { scope: validated.scopes.join(' '), session_id: session.id },
    });
    return { kind: 'continue', returnTo: new URLSearchParams(validated.params).toString() };
  }

  /** The user denied the request (RFC 6749 §4.1.2.1 access_denied). */
  async deny(raw: RawParams): Promise<AuthorizeOutcome> {
    const validated = await this.validate(raw);
    if ('kind' in validated) return validated;
    return this.errorResponse(validated, 'access_denied', 'the user denied the request');
  }

  /** Validates a request; returns the error outcome when it cannot go on. */
  async validate(raw: RawParams): Promise<AuthorizationRequest | AuthorizeOutcome> {
    const repeated = Object.keys(raw).filter((name) => Array.isArray(raw[name]));
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) {
      if (typeof value === 'string' && value !== '') params[name] = value;
    }

    const clientId = params.client_id;
    if (!clientId || repeated.includes('client_id')) return this.errorPage(400, 'invalid_client', 'The request does not name a client (client_id).');
    const client = clientId.length <= 256 ? await this.clients.find(clientId) : null;
    if (!client) return this.errorPage(400, 'invalid_client', 'The application that sent you here is not registered with this service.');
    if (client.redirectUris.length === 0 || client.responseTypes.length === 0) {
      return this.errorPage(400, 'unauthorized_client', 'This application is not registered for browser sign-in.');
    }

    if (repeated.includes('redirect_uri')) return this.errorPage(400, 'invalid_redirect_uri', 'The redirect_uri parameter is repeated.');
    let redirectUri = params.redirect_uri;
    if (redirectUri === undefined) {
      if (client.redirectUris.length !== 1) return this.errorPage(400, 'invalid_redirect_uri', 'The request must name one of the registered redirect URIs.');
      redirectUri = client.redirectUris[0];
    } else if (!client.redirectUris.includes(redirectUri)) {
      return this.errorPage(
        400,
        'invalid_redirect_uri',
        'The redirect URI in the request is not registered for this application.',
        'The application must send exactly one of its registered redirect URIs.',
      );
    }

    const responseType = params.response_type ? normaliseResponseType(params.response_type) : undefined;
    const requestedMode = params.response_mode as ResponseMode | undefined;
    // OAuth 2.0 Multiple Response Types §5: anything but a lone code defaults to the fragment.
    const defaultMode: ResponseMode = responseType && responseType !== 'code' ? 'fragment' : 'query';
    const responseMode: ResponseMode = requestedMode && RESPONSE_MODES.has(requestedMode) ? requestedMode : defaultMode;
    const base = { client, redirectUri, redirectUriGiven: params.redirect_uri !== undefined, responseMode, state: params.state, params };
    const fail = (error: string, description: string) => this.errorResponse(base, error, description);

    try {
      if (repeated.length > 0) throw new RedirectableError('invalid_request', `parameter ${repeated[0]} is repeated`);
      if (Object.keys(raw).length > MAX_PARAMETER_COUNT) throw new RedirectableError('invalid_request', `too many parameters (at most ${MAX_PARAMETER_COUNT})`);
      const tooLong = Object.keys(params).find((name) => params[name].length > MAX_PARAMETER_LENGTH);
      if (tooLong) throw new RedirectableError('invalid_request', `parameter ${tooLong} is too long`);
      // PostgreSQL text cannot hold a NUL (nonce, claims and scopes are stored with the code).
      const withNul = Object.keys(params).find((name) => params[name].includes('\u0000'));
      if (withNul) throw new RedirectableError('invalid_request', `parameter ${withNul} contains a NUL character`);
      if (requestedMode !== undefined && !RESPONSE_MODES.has(requestedMode))
        throw new RedirectableError('invalid_request', 'response_mode must be query, fragment or form_post');
      if (!responseType) throw new RedirectableError('invalid_request', 'response_type is required');
      if (!RESPONSE_TYPES.includes(responseType)) throw new RedirectableError('unsupported_response_type', `response_type ${responseType} is not supported`);
      if (!client.responseTypes.map(normaliseResponseType).includes(responseType))
        throw new RedirectableError('unauthorized_client', `this client may not use response_type ${responseType}`);
      const parts = new Set(responseType.split(' '));
      if (responseType !== 'code' && responseMode === 'query')
        throw new RedirectableError('invalid_request', 'tokens are never returned in the query (use fragment or form_post)');
      const scopes = this.scopes(client, params.scope);
      // OpenID Connect Core §6: request objects are not supported, and say so.
      if (params.request !== undefined) throw new RedirectableError('request_not_supported', 'request objects are not supported');
      if (params.request_uri !== undefined) throw new RedirectableError('request_uri_not_supported', 'request_uri is not supported');
      if (params.registration !== undefined) throw new RedirectableError('registration_not_supported', 'the registration parameter is not supported');
      if (parts.has('id_token') && !scopes.includes('openid')) throw new RedirectableError('invalid_scope', 'an id_token response needs the openid scope');
      // Core §3.2.2.1, §3.3.2.11: implicit and hybrid requests must carry a nonce.
      if (responseType !== 'code' && responseType !== 'token' && !params.nonce)
        throw new RedirectableError('invalid_request', 'nonce is required for this response_type');
      const pkce = parts.has('code') ? this.pkce(client, params) : {};
      const prompt = new Set((params.prompt ?? '').split(' ').filter(Boolean));
      if (prompt.has('none') && prompt.size > 1) throw new RedirectableError('invalid_request', 'prompt=none cannot be combined with other values');
      let maxAge: number | undefined;
      if (params.max_age !== undefined) {
        if (!/^\d{1,9}$/.test(params.max_age)) throw new RedirectableError('invalid_request', 'max_age must be a number of seconds');
        maxAge = Number(params.max_age);
      }
      const claims = parseClaimsRequest(params.claims);
      if (claims instanceof Error) throw new RedirectableError('invalid_request', claims.message);
      const hintedSubject = params.id_token_hint !== undefined ? await this.hintedSubject(params.id_token_hint) : undefined;
      return {
        ...base,
        responseType,
        responseParts: parts,
        scopes,
        prompt,
        nonce: params.nonce,
        maxAge,
        loginHint: params.login_hint,
        hintedSubject,
        claims,
        ...pkce,
      };
    } catch (error) {
      if (error instanceof RedirectableError) return fail(error.error, error.description);
      throw error;
    }
  }

  private scopes(client: Client, requested: string | undefined): string[] {
    try {
      return resolveScopes(requested, client.scopes);
    } catch (error) {
      if (error instanceof OAuthError) throw new RedirectableError(error.code, error.description);
      throw error;
    }
  }

  private pkce(client: Client, params: Record<string, string>): Pick<AuthorizationRequest, 'codeChallenge' | 'codeChallengeMethod'> {
    const challenge = params.code_challenge;
    if (!challenge) {
      if (params.code_challenge_method) throw new RedirectableError('invalid_request', 'code_challenge_method without code_challenge');
      if (client.isPublic || client.requirePkce) throw new RedirectableError('invalid_request', 'code_challenge is required (PKCE with S256)');
      return {};
    }
    // RFC 7636 §4.3: the method defaults to plain.
    const method = params.code_challenge_method ?? 'plain';
    if (method !== 'S256' && method !== 'plain') throw new RedirectableError('invalid_request', 'code_challenge_method must be S256');
    if (method === 'plain' && !client.allowPlainPkce)
      throw new RedirectableError('invalid_request', 'code_challenge_method must be S256 (plain is not allowed for this client)');
    if (!CODE_CHALLENGE.test(challenge)) throw new RedirectableError('invalid_request', 'code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~');
    return { codeChallenge: challenge, codeChallengeMethod: method };
  }

  /** The subject of an ID token we issued (signature checked, expiry not: it may be old). */
  private async hintedSubject(hint: string): Promise<string> {
    const claims = await this.idTokens.verifyIssued(hint);
    if (!claims) throw new RedirectableError('invalid_request', 'id_token_hint is not an ID token issued by this server');
    return claims.sub as string;
  }

  /** Parameters to come back with, without what brought up the page (prompt value, max_age). */
  private returnTo(request: AuthorizationRequest, satisfied: 'login' | 'consent'): string {
    const params = new URLSearchParams(request.params);
    if (satisfied === 'login') params.delete('max_age');
    const prompt = [...request.prompt].filter((value) => value !== satisfied && value !== 'select_account');
    if (prompt.length > 0) params.set('prompt', prompt.join(' '));
    else params.delete('prompt');
    return params.toString();
  }

  private async issue(request: AuthorizationRequest, user: User, session: Session, remoteAddress: string | undefined): Promise<AuthorizeOutcome> {
    const { client, responseParts: parts } = request;
    const authTime = session.authTime ?? new Date();
    const response: Record<string, string> = {};
    if (parts.has('code')) {
      response.code = await this.codes.issue({
        clientId: client.clientId,
        redirectUri: request.redirectUri,
        redirectUriGiven: request.redirectUriGiven,
        scopes: request.scopes,
        subject: user.id,
        sessionId: session.id,
        authTime,
        codeChallenge: request.codeChallenge ?? null,
        codeChallengeMethod: request.codeChallengeMethod ?? null,
        nonce: request.nonce ?? null,
        claims: request.claims ?? null,
      });
    }
    if (parts.has('token')) {
      // Implicit (RFC 6749 §4.2) and hybrid: an access token in the fragment, never a refresh token.
      const tokens = await this.issuer.issue({
        client,
        subject: user.id,
        scopes: request.scopes.filter((scope) => scope !== 'offline_access'),
        binding: { kind: 'new', grantType: 'implicit', refreshToken: false, sessionId: session.id, authTime },
        grantType: 'implicit',
        remoteAddress,
        ...(request.claims?.userinfo ? { userinfoClaims: Object.keys(request.claims.userinfo) } : {}),
      });
      Object.assign(response, { access_token: tokens.access_token, token_type: tokens.token_type, expires_in: String(tokens.expires_in), scope: tokens.scope });
    }
    if (parts.has('id_token')) {
      response.id_token = await this.idTokens.create({
        client,
        user,
        scopes: request.scopes,
        authTime,
        nonce: request.nonce,
        sessionId: session.id,
        accessToken: response.access_token,
        code: response.code,
        requestedClaims: request.claims?.id_token,
        // Core §5.4: with no access token to call UserInfo, the scope claims go into the ID token.
        includeScopeClaims: !parts.has('token') && !parts.has('code'),
      });
    }
    if (request.scopes.includes('openid')) response.session_state = this.sessionState(request, session);
    return this.respond(request, response);
  }

  /** Session Management 1.0 §3: hash of client_id, the RP's origin, the browser state and a salt, then the salt. */
  private sessionState(request: AuthorizationRequest, session: Session): string {
    const salt = randomBytes(8).toString('hex');
    const origin = new URL(request.redirectUri).origin;
    const opbs = this.sessions.browserState(session.id);
    return `${createHash('sha256').update(`${request.client.clientId} ${origin} ${opbs} ${salt}`).digest('base64url')}.${salt}`;
  }

  /** An error back to the client; the description kept to RFC 6749 §4.1.2.1's characters (it may quote the request). */
  private errorResponse(request: Pick<AuthorizationRequest, 'redirectUri' | 'responseMode' | 'state'>, error: string, description: string): AuthorizeOutcome {
    return this.respond(request, { error, error_description: describable(description) });
  }

  /** The response to the client, in its response mode, with `state` and the RFC 9207 `iss`. */
  private respond(request: Pick<AuthorizationRequest, 'redirectUri' | 'responseMode' | 'state'>, values: Record<string, string>): AuthorizeOutcome {
    const params: Record<string, string> = { ...values, ...(request.state !== undefined ? { state: request.state } : {}), iss: this.config.issuer };
    if (request.responseMode === 'form_post') return { kind: 'form-post', action: request.redirectUri, params };
    const url = new URL(request.redirectUri);
    if (request.responseMode === 'fragment') {
      url.hash = new URLSearchParams(params).toString();
    } else {
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    }
    return { kind: 'redirect', url: url.toString() };
  }

  private errorPage(status: number, error: string, description: string, hint?: string): AuthorizeOutcome {
    return { kind: 'error-page', status, error, description, hint };
  }
}
