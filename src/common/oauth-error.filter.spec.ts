import { ArgumentsHost, BadRequestException, HttpException, InternalServerErrorException, Logger, NotFoundException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OAuthError, invalidClient } from './oauth-error';
import { OAuthErrorFilter, sendOAuthError, toOAuthError } from './oauth-error.filter';

/** Something thrown the way Fastify throws its own errors: an Error with a statusCode. */
function fastifyError(statusCode: number, message: string, code = 'FST_ERR_CTP_BODY_TOO_LARGE'): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

/** Something thrown the way node-postgres throws a server error. */
function pgError(code: string, message = 'terminating connection due to administrator command'): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL' });
}

describe('toOAuthError', () => {
  it('keeps an OAuthError as it is, as an expected error', () => {
    const error = invalidClient('client authentication failed', true);
    const { oauth, unexpected } = toOAuthError(error);
    expect(oauth).toBe(error);
    expect(unexpected).toBe(false);
  });

  it('maps an HttpException 404 to not_found with status 404', () => {
    const { oauth, unexpected } = toOAuthError(new NotFoundException('no such route'));
    expect(oauth).toBeInstanceOf(OAuthError);
    expect(oauth.code).toBe('not_found');
    expect(oauth.status).toBe(404);
    expect(oauth.description).toBe('no such route');
    expect(unexpected).toBe(false);
  });

  it("uses the first message of a validation error's message list", () => {
    const { oauth } = toOAuthError(new BadRequestException(['name must be a string', 'age must be a number']));
    expect(oauth.code).toBe('invalid_request');
    expect(oauth.description).toBe('name must be a string');
  });

  it('uses a plain string response as the description', () => {
    expect(toOAuthError(new HttpException('slow down', 429)).oauth).toMatchObject({ code: 'too_many_requests', status: 429, description: 'slow down' });
  });

  it('maps 401, 403 and 405 HttpExceptions to their codes', () => {
    expect(toOAuthError(new HttpException('x', 401)).oauth.code).toBe('invalid_token');
    expect(toOAuthError(new HttpException('x', 403)).oauth.code).toBe('access_denied');
    expect(toOAuthError(new HttpException('x', 405)).oauth.code).toBe('method_not_allowed');
  });

  it('maps an unlisted 4xx HttpException to invalid_request with its own status', () => {
    expect(toOAuthError(new HttpException('teapot', 418)).oauth).toMatchObject({ code: 'invalid_request', status: 418 });
  });

  it('maps a 5xx HttpException to server_error and flags it unexpected', () => {
    const { oauth, unexpected } = toOAuthError(new InternalServerErrorException());
    expect(oauth.code).toBe('server_error');
    expect(oauth.status).toBe(500);
    expect(unexpected).toBe(true);
  });

  it('maps a Fastify-like error {statusCode: 413} to invalid_request 413 with its message', () => {
    const { oauth, unexpected } = toOAuthError(fastifyError(413, 'Request body is too large'));
    expect(oauth).toMatchObject({ code: 'invalid_request', status: 413, description: 'Request body is too large' });
    expect(unexpected).toBe(false);
    expect(toOAuthError({ statusCode: 413 }).oauth).toMatchObject({ code: 'invalid_request', status: 413 });
  });

  it('maps other Fastify client errors by status: 415 and 400 to invalid_request, 404 to not_found', () => {
    expect(toOAuthError(fastifyError(415, 'Unsupported Media Type', 'FST_ERR_CTP_INVALID_MEDIA_TYPE')).oauth).toMatchObject({
      code: 'invalid_request',
      status: 415,
    });
    expect(toOAuthError(fastifyError(400, 'Body is not valid JSON', 'FST_ERR_CTP_INVALID_JSON_BODY')).oauth).toMatchObject({
      code: 'invalid_request',
      status: 400,
    });
    expect(toOAuthError(fastifyError(404, 'Route not found', 'FST_ERR_NOT_FOUND')).oauth).toMatchObject({ code: 'not_found', status: 404 });
  });

  it.each([
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['pg 57P01 admin shutdown', pgError('57P01')],
    ['pg 53300 too many connections', pgError('53300', 'sorry, too many clients already')],
    [
      'a TypeORM QueryFailedError wrapping 57P01',
      Object.assign(new Error('terminating connection'), { name: 'QueryFailedError', driverError: pgError('57P01') }),
    ],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a pool timeout', new Error('timeout exceeded when trying to connect')],
  ])('answers 503 temporarily_unavailable with Retry-After for %s', (_, error) => {
    const { oauth, unexpected } = toOAuthError(error);
    expect(oauth.code).toBe('temporarily_unavailable');
    expect(oauth.status).toBe(503);
    expect(oauth.headers['Retry-After']).toMatch(/^\d+$/);
    expect(oauth.description).not.toContain('5432');
    expect(oauth.description).not.toContain('terminating');
    expect(unexpected).toBe(false);
  });

  it.each([
    ['22021 (a NUL in a text parameter)', pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
    ['22P05 (\\u0000 in jsonb)', pgError('22P05', 'unsupported Unicode escape sequence')],
    ['22P02 (a malformed uuid)', pgError('22P02', 'invalid input syntax for type uuid: "x"')],
    ['54001 (jsonb nested too deep)', pgError('54001', 'stack depth limit exceeded')],
    [
      'a TypeORM QueryFailedError wrapping 22021',
      Object.assign(new Error('invalid byte sequence'), { name: 'QueryFailedError', driverError: pgError('22021') }),
    ],
  ])('answers a PostgreSQL data exception only input causes, %s, with 400 invalid_request (found by fuzzing: 500)', (_, error) => {
    const { oauth, unexpected } = toOAuthError(error);
    expect(oauth).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(oauth.description).not.toMatch(/UTF8|uuid|stack/);
    expect(unexpected).toBe(false);
  });

  it.each([
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'secretHash')")],
    ['a pg unique violation', pgError('23505', 'duplicate key value violates unique constraint "clients_pkey"')],
    ['a Fastify-like 5xx error', fastifyError(500, 'internal detail', 'FST_ERR_SOMETHING')],
    ['a thrown string', 'secret internal string'],
    ['undefined', undefined],
    ['null', null],
  ])('answers anything else (%s) with server_error 500 and no internal message', (_, error) => {
    const { oauth, unexpected } = toOAuthError(error);
    expect(oauth.code).toBe('server_error');
    expect(oauth.status).toBe(500);
    expect(oauth.headers).toEqual({});
    expect(unexpected).toBe(true);
    const body = JSON.stringify(oauth.toJSON());
    for (const secret of ['secretHash', 'clients_pkey', 'internal detail', 'secret internal string']) expect(body).not.toContain(secret);
  });
});

interface FakeReply {
  statusCode?: number;
  sentHeaders: Record<string, string>;
  body?: string;
}

function fakeReply(): { reply: FastifyReply; sent: FakeReply } {
  const sent: FakeReply = { sentHeaders: {} };
  const reply = {
    status(code: number) {
      sent.statusCode = code;
      return reply;
    },
    headers(values: Record<string, string>) {
      Object.assign(sent.sentHeaders, values);
      return reply;
    },
    send(body: string) {
      sent.body = body;
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, sent };
}

describe('OAuthError.toJSON', () => {
  it('keeps error_description to RFC 6749 §5.2 characters, whatever the description quotes (found by fuzzing)', () => {
    const error = new OAuthError('invalid_request', 'parameter "é\\\u0000\u{1f600}" is repeated');
    expect(error.toJSON().error_description).toBe("parameter '?/??' is repeated");
    expect(error.toJSON().error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
  });
});

describe('sendOAuthError', () => {
  it('writes RFC 6749 §5.2 JSON with the status, no-store and the extra headers', () => {
    const { reply, sent } = fakeReply();
    sendOAuthError(reply, invalidClient('client authentication failed', true));
    expect(sent.statusCode).toBe(401);
    expect(sent.sentHeaders).toEqual({
      'cache-control': 'no-store',
      'content-type': 'application/json; charset=utf-8',
      'WWW-Authenticate': 'Basic realm="gatehouse", charset="UTF-8"',
    });
    expect(JSON.parse(sent.body!)).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });
});

describe('OAuthErrorFilter', () => {
  let logged: ReturnType<typeof vi.spyOn>;
  let warned: ReturnType<typeof vi.spyOn>;

  beforeEach(() => {
    logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    warned = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  const host = (reply: FastifyReply): ArgumentsHost => ({ switchToHttp: () => ({ getResponse: () => reply }) }) as unknown as ArgumentsHost;

  it('logs an unexpected error with its stack and answers server_error without it', () => {
    const { reply, sent } = fakeReply();
    const error = new Error('relation "clients" does not exist');
    new OAuthErrorFilter().catch(error, host(reply));
    expect(logged).toHaveBeenCalledWith(error.stack);
    expect(sent.statusCode).toBe(500);
    expect(JSON.parse(sent.body!).error).toBe('server_error');
    expect(sent.body).not.toContain('relation');
  });

  it('does not log expected OAuth errors', () => {
    const { reply, sent } = fakeReply();
    new OAuthErrorFilter().catch(new OAuthError('invalid_grant', 'refresh token is invalid'), host(reply));
    expect(logged).not.toHaveBeenCalled();
    expect(warned).not.toHaveBeenCalled();
    expect(sent.statusCode).toBe(400);
  });

  it('warns (with the SQLSTATE only) about input the database refused, and answers 400', () => {
    const { reply, sent } = fakeReply();
    new OAuthErrorFilter().catch(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00 secret-value'), host(reply));
    expect(warned).toHaveBeenCalledWith('input the database cannot hold (SQLSTATE 22021)');
    expect(logged).not.toHaveBeenCalled();
    expect(sent.statusCode).toBe(400);
  });

  it('warns about a database outage and answers 503 with Retry-After', () => {
    const { reply, sent } = fakeReply();
    new OAuthErrorFilter().catch(pgError('57P01'), host(reply));
    expect(warned).toHaveBeenCalledTimes(1);
    expect(logged).not.toHaveBeenCalled();
    expect(sent.statusCode).toBe(503);
    expect(sent.sentHeaders['Retry-After']).toBe('1');
  });
});
