/**
 * The one error type of Gatehouse. Anything thrown below a controller that a client
 * should see is an OAuthError; the OAuthErrorFilter renders it as RFC 6749 §5.2 JSON
 * (or RFC 6750 §3 for resource requests). Anything else becomes `server_error`.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'access_denied'
  | 'login_required'
  | 'unsupported_response_type'
  | 'unsupported_token_type'
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'not_found'
  | 'method_not_allowed'
  | 'too_many_requests'
  | 'server_error'
  | 'temporarily_unavailable';

/**
 * RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. Descriptions may quote
 * what the client sent (a parameter name, a parser's message): quotes and backslashes
 * become apostrophes and slashes, anything else outside the set a question mark.
 */
export function describable(description: string): string {
  return description
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x7E]/gu, '?');
}

export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    /** Extra response headers, e.g. WWW-Authenticate. */
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code}: ${description}`);
    this.name = 'OAuthError';
  }

  /** The RFC 6749 §5.2 body; the description kept to the characters the RFC allows in it. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: describable(this.description) };
  }
}

export const invalidRequest = (description: string): OAuthError => new OAuthError('invalid_request', description);

/** RFC 6749 §5.2: 401 with WWW-Authenticate when the client tried HTTP authentication. */
export const invalidClient = (description: string, usedBasic = false): OAuthError =>
  new OAuthError('invalid_client', description, 401, usedBasic ? { 'WWW-Authenticate': 'Basic realm="gatehouse", charset="UTF-8"' } : {});

export const invalidGrant = (description: string): OAuthError => new OAuthError('invalid_grant', description);

export const unauthorizedClient = (description: string): OAuthError => new OAuthError('unauthorized_client', description);

export const unsupportedGrantType = (description: string): OAuthError => new OAuthError('unsupported_grant_type', description);

export const invalidScope = (description: string): OAuthError => new OAuthError('invalid_scope', description);

export const notFound = (description: string): OAuthError => new OAuthError('not_found', description, 404);
