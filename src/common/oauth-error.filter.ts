import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { OAuthError, OAuthErrorCode } from './oauth-error';

const CODE_BY_STATUS: Record<number, OAuthErrorCode> = {
  400: 'invalid_request',
  401: 'invalid_token',
  403: 'access_denied',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'invalid_request',
  414: 'invalid_request',
  415: 'invalid_request',
  429: 'too_many_requests',
  431: 'invalid_request',
  503: 'temporarily_unavailable',
};

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006']);

/** Whether an error means PostgreSQL is unreachable or restarting (503, not 500). */
function isDatabaseUnavailable(error: unknown): boolean {
  const candidate = error as { code?: string; driverError?: { code?: string }; message?: string };
  const code = candidate?.driverError?.code ?? candidate?.code;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    candidate?.message ?? '',
  );
}

/**
 * PostgreSQL data exceptions that only input can cause: a NUL character or a broken
 * Unicode escape (text and jsonb cannot hold them), a malformed value for a typed column,
 * a number out of range, a value nested too deep. The request is at fault: 400, not 500.
 */
const UNPROCESSABLE_INPUT_CODES = new Set(['22001', '22003', '22021', '22P02', '22P05', '54001']);

function unprocessableInputCode(error: unknown): string | undefined {
  const candidate = error as { code?: string; driverError?: { code?: string } };
  const code = candidate?.driverError?.code ?? candidate?.code;
  return code && UNPROCESSABLE_INPUT_CODES.has(code) ? code : undefined;
}

/** Maps anything thrown to an OAuthError: the one shape every client sees. */
export function toOAuthError(error: unknown): { oauth: OAuthError; unexpected: boolean } {
  if (error instanceof OAuthError) return { oauth: error, unexpected: false };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse() as string | { message?: string | string[] };
    const message = typeof response === 'string' ? response : Array.isArray(response.message) ? response.message[0] : (response.message ?? error.message);
    if (status >= 500 && status !== 503) return { oauth: new OAuthError('server_error', 'the server could not handle the request', 500), unexpected: true };
    return { oauth: new OAuthError(CODE_BY_STATUS[status] ?? 'invalid_request', message || 'the request was refused', status), unexpected: false };
  }
  const statusCode = (error as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Fastify's own errors: body too large, bad JSON, unsupported media type, ...
    return {
      oauth: new OAuthError(CODE_BY_STATUS[statusCode] ?? 'invalid_request', (error as Error).message || 'the request was refused', statusCode),
      unexpected: false,
    };
  }
  if (unprocessableInputCode(error)) {
    return { oauth: new OAuthError('invalid_request', 'a parameter holds a value that cannot be processed (such as a NUL character)'), unexpected: false };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      oauth: new OAuthError('temporarily_unavailable', 'the service is temporarily unavailable; retry shortly', 503, { 'Retry-After': '1' }),
      unexpected: false,
    };
  }
  return { oauth: new OAuthError('server_error', 'the server could not handle the request', 500), unexpected: true };
}

/** Writes an OAuthError as RFC 6749 §5.2 JSON. */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): void {
  void reply
    .status(error.status)
    .headers({ 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', ...error.headers })
    .send(JSON.stringify(error.toJSON()));
}

/**
 * The one place errors become responses: RFC 6749 §5.2 / RFC 6750 §3 JSON with the
 * right status and headers. Unexpected errors are logged with their stack and answered
 * `server_error` with no detail; database outages are answered 503.
 */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(error: unknown, host: ArgumentsHost): void {
    const { oauth, unexpected } = toOAuthError(error);
    if (unexpected) this.logger.error((error as Error)?.stack ?? String(error));
    else if (oauth.status === 503) this.logger.warn(`database unavailable: ${(error as Error).message}`);
    else if (unprocessableInputCode(error)) this.logger.warn(`input the database cannot hold (SQLSTATE ${unprocessableInputCode(error)})`);
    sendOAuthError(host.switchToHttp().getResponse<FastifyReply>(), oauth);
  }
}
