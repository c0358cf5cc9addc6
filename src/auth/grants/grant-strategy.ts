import { DiscoveryService } from '@nestjs/core';
import { Client } from '../../clients/client.entity';
import { FormParams } from '../../common/form';
import { TokenGrant } from '../../tokens/token-grant';

/** Request facts a grant may record or throttle by (never used for decisions about the protocol). */
export interface GrantContext {
  remoteAddress?: string;
}

/**
 * One OAuth grant type. The token endpoint authenticates the client, checks that it
 * may use this grant, and calls `handle`; the strategy validates its own parameters
 * and says what to issue (`invalid_grant`, `invalid_scope`, ... as OAuthError).
 */
export interface GrantStrategy {
  readonly grantType: string;
  handle(client: Client, params: FormParams, context: GrantContext): Promise<TokenGrant>;
}

/**
 * Marks a provider as a grant strategy. Any module may contribute one: the registry
 * discovers every decorated provider at start-up, so adding a grant touches neither
 * the token controller nor the auth module.
 */
export const TokenGrantStrategy = DiscoveryService.createDecorator<void>();
