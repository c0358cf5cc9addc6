import { Type, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { AppConfig } from './config/configuration';
import { isLoggingRequests } from './logging/logging.module';
import { FORM_CONTENT_TYPE, parseFormBody } from './common/form';
import { endSilentConnectionsOnClose } from './common/graceful-close';
import { invalidRequest, OAuthError } from './common/oauth-error';
import { OAuthErrorFilter, sendOAuthError, toOAuthError } from './common/oauth-error.filter';
import {
  answerClientError,
  answerUnmetExpectation,
  BODY_LIMIT_BYTES,
  MAX_HEADER_BYTES,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  refuseMalformedRequest,
  tooDeep,
} from './common/http-limits';

export { BODY_LIMIT_BYTES } from './common/http-limits';

/**
 * How often Node looks for requests that overran HEADERS_TIMEOUT or REQUEST_TIMEOUT
 * (its default, 30 s, would let a slow client keep a connection up to 30 s too long).
 */
function connectionsCheckingInterval(config: AppConfig): number {
  return Math.max(250, Math.min(5000, (config.headersTimeout * 1000) / 4));
}

const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";

function setDefaultHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  if (!request.url.startsWith('/docs')) reply.header('content-security-policy', DEFAULT_CSP);
}

/**
 * Fastify's router refuses a URL that does not decode (400) or a path parameter over
 * maxParamLength (414) before any hook runs: answered here, in the RFC's JSON shape.
 */
function answerFrameworkError(error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  setDefaultHeaders(request, reply);
  if (error.code === 'FST_ERR_BAD_URL') sendOAuthError(reply, invalidRequest('the request URL is not valid (broken percent-encoding)'));
  else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
    sendOAuthError(reply, new OAuthError('invalid_request', 'a path segment of the request URL is too long', 414));
  else sendOAuthError(reply, toOAuthError(error).oauth);
}

/**
 * Builds the HTTP application (Fastify adapter) with everything main.ts and the tests
 * share: body parsers, the one error filter, validation, OpenAPI docs.
 */
export async function createApp(config: AppConfig, extensions: Type[] = []): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    // Slow clients may not hold connections open forever: the head must arrive within
    // HEADERS_TIMEOUT of connecting, the whole request within REQUEST_TIMEOUT (both 408),
    // an idle keep-alive connection closes after KEEP_ALIVE_TIMEOUT, and a connection on
    // which nothing moves for 30 s (a request being handled included) is dropped.
    connectionTimeout: 30_000,
    requestTimeout: config.requestTimeout * 1000,
    keepAliveTimeout: config.keepAliveTimeout * 1000,
    http: {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: config.headersTimeout * 1000,
      connectionsCheckingInterval: connectionsCheckingInterval(config),
      // Checked by the onRequest hook instead, to answer in JSON.
      requireHostHeader: false,
    },
    // Requests Node's HTTP parser refuses (or that came too slowly) get the same JSON errors as the rest.
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    // While shutting down, requests that still arrive are served (with Connection: close):
    // a 503 would fail them, where a load balancer moves on once connections are refused.
    return503OnClosing: false,
    // A hop count works at run time too; Fastify's typings only list booleans, strings and functions.
    trustProxy: config.trustProxy as boolean | string,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 256 },
    // Nest's middleware engine (@fastify/middie) runs on every request once registered; the
    // only middleware is the request logger of LOG_LEVEL debug, so without it there is none.
    skipMiddie: !isLoggingRequests(config),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config, extensions), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Fastify parses JSON itself; forms get Gatehouse's parser below.
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  endSilentConnectionsOnClose(fastify);
  fastify.server.on('checkExpectation', answerUnmetExpectation);
  fastify.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => done(null, parseFormBody(body as string)));
  // Fastify's JSON parser (prototype poisoning refused), with a bound on nesting: a value
  // nested thousands deep parses, but recursion over it later (stringify, jsonb) would not.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    parseJson(request, body as string, (error, value) => {
      if (error) done(error, undefined);
      else if (nestsDeeperThan(value, MAX_JSON_DEPTH)) done(tooDeep(), undefined);
      else done(null, value);
    }),
  );
  // Any other media type reaches the handler as text, which then refuses it in the RFC's words.
  // Defaults for every response, set up front (a synchronous hook costs no promise per request);
  // pages replace them with their own, stricter CSP. /docs (Swagger UI) needs its scripts.
  fastify.addHook('onRequest', (request, reply, done) => {
    setDefaultHeaders(request, reply);
    if (!refuseMalformedRequest(request, reply)) done();
  });
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.useGlobalFilters(new OAuthErrorFilter());
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      exceptionFactory: (errors) => invalidRequest(Object.values(errors[0]?.constraints ?? {})[0] ?? 'invalid request body'),
    }),
  );

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Gatehouse')
      .setDescription('OAuth 2.0 and OpenID Connect identity service, and its sample resource API')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
