import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readForm } from '../common/form';
import { AuthenticatedClient, ClientAuthenticator } from './client-authenticator';
import { CorsPolicy } from './cors-policy';

type RequestWithClient = FastifyRequest & { authenticatedClient?: AuthenticatedClient };

/**
 * Authenticates the client of a token, revocation or introspection request from the
 * Authorization header and the form, before the handler runs.
 */
@Injectable()
export class ClientAuthGuard implements CanActivate {
  constructor(
    private readonly authenticator: ClientAuthenticator,
    private readonly cors: CorsPolicy,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RequestWithClient>();
    const form = readForm(request);
    request.authenticatedClient = await this.authenticator.authenticate({
      authorization: request.headers.authorization,
      clientId: form.client_id,
      clientSecret: form.client_secret,
      remoteAddress: request.ip,
    });
    // CORS only once the client is known, and only for its own origins.
    this.cors.allowForClient(context.switchToHttp().getResponse<FastifyReply>(), request.authenticatedClient.client, request.headers.origin);
    return true;
  }
}

/** The client that ClientAuthGuard authenticated. */
export const CurrentClient = createParamDecorator((_: unknown, context: ExecutionContext): AuthenticatedClient => {
  const client = context.switchToHttp().getRequest<RequestWithClient>().authenticatedClient;
  if (!client) throw new Error('CurrentClient used without ClientAuthGuard');
  return client;
});
