import { IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalidRequest, OAuthError } from './oauth-error';
import { sendOAuthError } from './oauth-error.filter';

/**
 * The limits every request meets before any endpoint sees it, and the RFC 6749 §5.2 JSON
 * answers for requests that break them. Form parameters have their own limits in form.ts.
 */

/** Largest request body (Fastify's bodyLimit): 413 above it. */
export const BODY_LIMIT_BYTES = 64 * 1024;
/** Largest request head, request line and headers together (Node's maxHeaderSize): 431 above it. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Longest request target, path and query: 414 above it (the authorization endpoint's query lives here). */
export const MAX_URL_LENGTH = 8 * 1024;
/** Deepest nesting of arrays and objects in a JSON body: 400 below it. */
export const MAX_JSON_DEPTH = 32;

/** Node's name for a request that did not arrive within HEADERS_TIMEOUT or REQUEST_TIMEOUT. */
const REQUEST_TIMEOUT_CODE = 'ERR_HTTP_REQUEST_TIMEOUT';

/** The answer to a request Node's HTTP parser refused or that came too slowly. */
function clientErrorAnswer(code: string | undefined): { status: number; description: string } {
  if (code === REQUEST_TIMEOUT_CODE) return { status: 408, description: 'the request did not arrive in time' };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, description: `the request line and headers exceed ${MAX_HEADER_BYTES} bytes` };
  return { status: 400, description: `the request is not valid HTTP/1.1${code && /^HPE_[A-Z_]+$/.test(code) ? ` (${code})` : ''}` };
}

/**
 * Fastify's clientErrorHandler: Node's HTTP parser refused the request (malformed, headers
 * too large) or it came too slowly, before any route or hook could run. Answers in the same
 * JSON shape as every other error, then closes the connection.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, description } = clientErrorAnswer(error.code);
  const body = JSON.stringify(invalidRequest(description).toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      'Connection: close\r\n\r\n' +
      body,
    () => socket.destroy(),
  );
}

/**
 * Node's 'checkExpectation' (an Expect header other than 100-continue): 417, in the same
 * JSON shape as every other error, instead of Node's bare answer.
 */
export function answerUnmetExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(invalidRequest('the Expect header may only ask for 100-continue').toJSON());
  response.writeHead(417, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(body);
}

/**
 * onRequest check, answered at once: a request target over MAX_URL_LENGTH (414), and an
 * HTTP/1.1 request without Host (400, RFC 9112 §3.2; Node's own check answers with an empty
 * body, so it is turned off and done here). Returns whether it answered.
 */
export function refuseMalformedRequest(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.url.length > MAX_URL_LENGTH) {
    sendOAuthError(reply, new OAuthError('invalid_request', `the request URI exceeds ${MAX_URL_LENGTH} characters`, 414));
    return true;
  }
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    sendOAuthError(reply, invalidRequest('an HTTP/1.1 request needs a Host header'));
    return true;
  }
  return false;
}

/**
 * Whether a parsed JSON value nests arrays and objects deeper than `limit`. Iterative: a
 * value nested thousands deep (JSON.parse builds one) must not overflow the stack here.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return false;
}

/** The JSON body parser's refusal of a too deeply nested body (rendered as invalid_request). */
export const tooDeep = (): OAuthError => invalidRequest(`the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`);
