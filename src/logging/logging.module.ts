import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino, { DestinationStream } from 'pino';
import { AppConfig } from '../config/configuration';

/** Strips the query string: it may carry codes, states or tokens. */
const pathOnly = (url: string | undefined): string => (url ?? '').split('?')[0];

const LOG_DESTINATION = Symbol('LOG_DESTINATION');

type FileDestination = DestinationStream & { flushSync(): void };

/** One appending stream per log file and process, shared by every application that logs there. */
const fileDestinations = new Map<string, FileDestination>();

function fileDestination(path: string): FileDestination {
  let destination = fileDestinations.get(path);
  if (!destination) {
    // Asynchronous writes; pino flushes what is buffered when the process exits.
    destination = pino.destination({ dest: path, append: true, mkdir: false, sync: false }) as FileDestination;
    fileDestinations.set(path, destination);
  }
  return destination;
}

/** Writes out what is buffered for LOG_FILE when the application closes (the file stays open for late lines). */
@Injectable()
class LogFileFlusher implements OnApplicationShutdown {
  constructor(@Inject(LOG_DESTINATION) private readonly destination: FileDestination | undefined) {}

  onApplicationShutdown(): void {
    try {
      this.destination?.flushSync();
    } catch {
      // Nothing buffered yet (the file is still opening): pino flushes it on exit.
    }
  }
}

/**
 * Structured JSON logs (pino) with a request id on every line, on standard output or,
 * with LOG_FILE, appended to that file. Request logs carry method, path, status and
 * timing, never headers that hold credentials or query strings.
 */
/** Whether every request is logged (LOG_LEVEL debug or trace): only then is there request middleware. */
export const isLoggingRequests = (config: AppConfig): boolean => config.logLevel === 'debug' || config.logLevel === 'trace';

@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    const logsRequests = isLoggingRequests(config);
    const options = {
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
      autoLogging: logsRequests,
    };
    const destination = config.logFile ? fileDestination(config.logFile) : undefined;
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: destination ? [options, destination] : options,
          // The request middleware (request id, one line per request) only where requests are
          // logged: it costs a child logger per request, too much for the hot paths at info.
          // (nestjs-pino's default route, {/*splat}, matches nothing on the Fastify adapter.)
          forRoutes: logsRequests ? [{ path: '{*splat}', method: RequestMethod.ALL }] : [],
        }),
      ],
      providers: [{ provide: LOG_DESTINATION, useValue: destination }, LogFileFlusher],
    };
  }
}
