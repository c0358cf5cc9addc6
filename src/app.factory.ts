import { Type, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { AppConfig } from './config/configuration';
import { isLoggingRequests } from './logging/logging.module';
import { FORM_CONTENT_TYPE, parseFormBody } from './common/form';
import { endSilentConnectionsOnClose } from './common/graceful-close';
import { invalidRequest } from './common/oauth-error';
import { OAuthErrorFilter } from './common/oauth-error.filter';

export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Builds the HTTP application (Fastify adapter) with everything main.ts and the tests
 * share: body parsers, the one error filter, validation, OpenAPI docs.
 */
export async function createApp(config: AppConfig, extensions: Type[] = []): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    // Slow clients may not hold connections open forever.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
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
  fastify.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => done(null, parseFormBody(body as string)));
  // Any other media type reaches the handler as text, which then refuses it in the RFC's words.
  // Defaults for every response, set up front (a synchronous hook costs no promise per request);
  // pages replace them with their own, stricter CSP. /docs (Swagger UI) needs its scripts.
  const defaultCsp = "default-src 'none'; frame-ancestors 'none'";
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (!request.url.startsWith('/docs')) reply.header('content-security-policy', defaultCsp);
    done();
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
