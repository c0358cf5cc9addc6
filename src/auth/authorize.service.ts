import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { Client } from '../clients/client.entity';
import { ClientsService } from '../clients/clients.service';
import { OAuthError } from '../common/oauth-error';
import { ConsentsService } from '../sessions/consents.service';
import { Session } from '../sessions/session.entity';
import { TokenIssuer } from '../tokens/token-issuer';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { AuthorizationCodesService } from './authorization-codes.service';
import { resolveScopes } from './scope-policy';

export type ResponseMode = 'query' | 'fragment' | 'form_post';

/** A validated authorization request: the client and redirect URI are trusted from here on. */
export interface AuthorizationRequest {
  client: Client;
  redirectUri: string;
  redirectUriGiven: boolean;
  responseType: 'code' | 'token';
  responseMode: ResponseMode;
  state?: string;
  scopes: string[];
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
  prompt: Set<string>;
  /** The request's parameters, to come back to the authorization endpoint after login or consent. */
  params: Record<string, string>;
}

/** What the authorization endpoint answers; the controller turns it into HTTP. */
export type AuthorizeOutcome =
  | { kind: 'error-page'; status: number; error: string; description: string; hint?: string }
  | { kind: 'redirect'; url: string }
  | { kind: 'form-post'; action: string; params: Record<string, string> }
  | { kind: 'login'; request: AuthorizationRequest; returnTo: string }
  | { kind: 'consent'; request: AuthorizationRequest; user: User; returnTo: string };

/** Raw parameters from the query or the form; arrays mark repeated parameters. */
export type RawParams = Record<string, string | string[] | undefined>;

const RESPONSE_TYPES = new Set(['code', 'token']);
const RESPONSE_MODES = new Set<ResponseMode>(['query', 'fragment', 'form_post']);
const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;
const MAX_PARAMETER_LENGTH = 4096;

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
    private readonly config: AppConfig,
  ) {}

  async authorize(raw: RawParams, session: Session | undefined): Promise<AuthorizeOutcome> {
    const validated = await this.validate(raw);
    if ('kind' in validated) return validated;
    const request = validated;

    const user = session?.userId ? await this.users.findBySubject(session.userId) : null;
    const signedIn = session !== undefined && user !== null && !user.disabled;
    if (!signedIn || request.prompt.has('login')) {
      if (request.prompt.has('none')) return this.errorResponse(request, 'login_required', 'the user is not signed in');
      return { kind: 'login', request, returnTo: this.returnTo(request, 'login') };
    }
    const consented = request.client.firstParty || (await this.consents.covers(user.id, request.client.clientId, request.scopes));
    if (!consented || request.prompt.has('consent')) {
      if (request.prompt.has('none')) return this.errorResponse(request, 'consent_required', 'the user has not allowed this client');
      return { kind: 'consent', request, user, returnTo: this.returnTo(request, 'consent') };
    }
    return this.issue(request, user, session);
  }

  /** The user allowed the request: remember it and continue. */
  async allow(raw: RawParams, session: Session): Promise<AuthorizeOutcome | { kind: 'continue'; returnTo: string }> {
    const validated = await this.validate(raw);
    if ('kind' in validated) return validated;
    if (!session.userId) return { kind: 'continue', returnTo: new URLSearchParams(validated.params).toString() };
    await this.consents.grant(session.userId, validated.client.clientId, validated.scopes);
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

    const responseType = params.response_type;
    const requestedMode = params.response_mode as ResponseMode | undefined;
    const responseMode: ResponseMode = requestedMode && RESPONSE_MODES.has(requestedMode) ? requestedMode : responseType === 'token' ? 'fragment' : 'query';
    const base = { client, redirectUri, redirectUriGiven: params.redirect_uri !== undefined, responseMode, state: params.state, params };
    const fail = (error: string, description: string) => this.errorResponse(base, error, description);

    try {
      if (repeated.length > 0) throw new RedirectableError('invalid_request', `parameter ${repeated[0]} is repeated`);
      const tooLong = Object.keys(params).find((name) => params[name].length > MAX_PARAMETER_LENGTH);
      if (tooLong) throw new RedirectableError('invalid_request', `parameter ${tooLong} is too long`);
      if (requestedMode !== undefined && !RESPONSE_MODES.has(requestedMode))
        throw new RedirectableError('invalid_request', 'response_mode must be query, fragment or form_post');
      if (!responseType) throw new RedirectableError('invalid_request', 'response_type is required');
      if (!RESPONSE_TYPES.has(responseType)) throw new RedirectableError('unsupported_response_type', `response_type ${responseType} is not supported`);
      if (!client.responseTypes.includes(responseType))
        throw new RedirectableError('unauthorized_client', `this client may not use response_type ${responseType}`);
      if (responseType === 'token' && responseMode === 'query')
        throw new RedirectableError('invalid_request', 'tokens are never returned in the query (use fragment or form_post)');
      const scopes = this.scopes(client, params.scope);
      const pkce = responseType === 'code' ? this.pkce(client, params) : {};
      const prompt = new Set((params.prompt ?? '').split(' ').filter(Boolean));
      if (prompt.has('none') && prompt.size > 1) throw new RedirectableError('invalid_request', 'prompt=none cannot be combined with other values');
      return { ...base, responseType: responseType as 'code' | 'token', scopes, prompt, ...pkce };
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

  /** Parameters to come back with, without the prompt value that brought up the page. */
  private returnTo(request: AuthorizationRequest, satisfied: 'login' | 'consent'): string {
    const params = new URLSearchParams(request.params);
    const prompt = [...request.prompt].filter((value) => value !== satisfied && value !== 'select_account');
    if (prompt.length > 0) params.set('prompt', prompt.join(' '));
    else params.delete('prompt');
    return params.toString();
  }

  private async issue(request: AuthorizationRequest, user: User, session: Session): Promise<AuthorizeOutcome> {
    if (request.responseType === 'code') {
      const code = await this.codes.issue({
        clientId: request.client.clientId,
        redirectUri: request.redirectUri,
        redirectUriGiven: request.redirectUriGiven,
        scopes: request.scopes,
        subject: user.id,
        sessionId: session.id,
        authTime: session.authTime ?? new Date(),
        codeChallenge: request.codeChallenge ?? null,
        codeChallengeMethod: request.codeChallengeMethod ?? null,
        nonce: request.params.nonce ?? null,
      });
      return this.respond(request, { code });
    }
    // Implicit grant (RFC 6749 §4.2): an access token in the fragment, never a refresh token.
    const tokens = await this.issuer.issue({
      client: request.client,
      subject: user.id,
      scopes: request.scopes,
      binding: { kind: 'new', grantType: 'implicit', refreshToken: false, sessionId: session.id, authTime: session.authTime ?? undefined },
    });
    return this.respond(request, {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      expires_in: String(tokens.expires_in),
      scope: tokens.scope,
    });
  }

  private errorResponse(request: Pick<AuthorizationRequest, 'redirectUri' | 'responseMode' | 'state'>, error: string, description: string): AuthorizeOutcome {
    return this.respond(request, { error, error_description: description });
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
