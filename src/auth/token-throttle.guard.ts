import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthenticatedClient } from '../clients/client-authenticator';
import { enforce, RateLimits } from '../rate-limit/rate-limits';

/**
 * TOKEN_RATE_LIMIT_PER_ADDRESS, before client authentication (so that floods of unknown
 * clients are throttled before they cost a lookup). Decided in memory.
 */
@Injectable()
export class TokenAddressThrottle implements CanActivate {
  constructor(private readonly limits: RateLimits) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    enforce(this.limits.tokenPerAddress.take(request.ip), 'too many token requests from this address; retry later');
    return true;
  }
}

/** TOKEN_RATE_LIMIT_PER_CLIENT, once ClientAuthGuard has authenticated the client. Decided in memory. */
@Injectable()
export class TokenClientThrottle implements CanActivate {
  constructor(private readonly limits: RateLimits) {}

  canActivate(context: ExecutionContext): boolean {
    const { authenticatedClient } = context.switchToHttp().getRequest<FastifyRequest & { authenticatedClient?: AuthenticatedClient }>();
    if (authenticatedClient)
      enforce(this.limits.tokenPerClient.take(authenticatedClient.client.clientId), 'too many token requests for this client; retry later');
    return true;
  }
}
