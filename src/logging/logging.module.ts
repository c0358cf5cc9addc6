import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/configuration';

/** Strips the query string: it may carry codes, states or tokens. */
const pathOnly = (url: string | undefined): string => (url ?? '').split('?')[0];

/**
 * Structured JSON logs (pino) with a request id on every line. Request logs carry
 * method, path, status and timing, never headers that hold credentials or query strings.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            genReqId: (request: IncomingMessage) => {
              const given = request.headers['x-request-id'];
              return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
            },
            customProps: () => ({ service: 'gatehouse' }),
            serializers: {
              req: (request: { id: string; method: string; url: string; remoteAddress?: string }) => ({
                id: request.id,
                method: request.method,
                path: pathOnly(request.url),
                remoteAddress: request.remoteAddress,
              }),
              res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
            },
            redact: { paths: ['req.headers', 'res.headers', '*.password', '*.client_secret', '*.refresh_token', '*.access_token'], remove: true },
            autoLogging: config.logLevel === 'debug' || config.logLevel === 'trace',
          },
        }),
      ],
    };
  }
}
