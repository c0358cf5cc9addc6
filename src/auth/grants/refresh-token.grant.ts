import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/configuration';
import { Client } from '../../clients/client.entity';
import { randomToken, sha256 } from '../../common/crypto';
import { FormParams } from '../../common/form';
import { invalidGrant, invalidRequest } from '../../common/oauth-error';
import { RefreshTokenStore } from '../../tokens/refresh-token.store';
import { RevocationService } from '../../tokens/revocation.service';
import { GrantRecord } from '../../tokens/refresh-token.store';
import { TokenGrant } from '../../tokens/token-grant';
import { UsersService } from '../../users/users.service';
import { TokenIssuer } from '../../tokens/token-issuer';
import { requestedScopes, resolveScopes } from '../scope-policy';
import { GrantContext, GrantStrategy, TokenGrantStrategy } from './grant-strategy';

/**
 * RFC 6749 §6 with RFC 9700 §4.14 rotation: every use returns a new refresh token. A
 * token already exchanged, presented again after REFRESH_TOKEN_REUSE_GRACE, revokes
 * its whole grant (reuse detection). The scope may narrow, never widen.
 */
@Injectable()
@TokenGrantStrategy()
export class RefreshTokenGrant implements GrantStrategy {
  readonly grantType = 'refresh_token';

  constructor(
    private readonly refreshTokens: RefreshTokenStore,
    private readonly revocation: RevocationService,
    private readonly issuer: TokenIssuer,
    private readonly config: AppConfig,
    private readonly users: UsersService,
  ) {}

  async handle(client: Client, params: FormParams, context: GrantContext): Promise<TokenGrant> {
    if (!params.refresh_token) throw invalidRequest('refresh_token is required');
    const presented = sha256(params.refresh_token);
    const requested = requestedScopes(params.scope);
    const successor = randomToken();
    const expiresAt = this.issuer.refreshTokenExpiry({ client });

    // One statement decides: it rotates a current token of this client whose grant covers
    // the requested scopes, or changes nothing. Only a refusal needs a second look.
    const grant = await this.refreshTokens.rotate(presented, client.clientId, sha256(successor), expiresAt, requested);
    if (!grant) return this.refuse(client, params.scope, presented, successor, expiresAt, context);
    const scopes = requested ?? grant.scopes;
    return {
      client,
      subject: grant.subject,
      scopes,
      binding: { kind: 'existing', grantId: grant.id, refreshToken: successor, sessionId: grant.sessionId, authTime: grant.authTime },
      grantType: this.grantType,
      remoteAddress: context.remoteAddress,
      ...(await this.idToken(grant, scopes)),
    };
  }

  /**
   * The atomic rotation did not match: the token is unknown or another client's, the scope
   * is wider than its grant (the token stays usable), or the token was rotated (reuse),
   * expired, or its grant revoked.
   */
  private async refuse(
    client: Client,
    scope: string | undefined,
    presented: string,
    successor: string,
    expiresAt: Date,
    context: GrantContext,
  ): Promise<TokenGrant> {
    const state = await this.refreshTokens.find(presented);
    if (!state || state.grant.clientId !== client.clientId) throw invalidGrant('refresh token is invalid');
    const scopes = resolveScopes(scope, state.grant.scopes);
    if (state.grant.revokedAt || state.expiresAt.getTime() <= Date.now() || !state.rotatedAt) {
      throw invalidGrant('refresh token is invalid, expired or revoked');
    }
    const sinceRotation = Date.now() - state.rotatedAt.getTime();
    const grace = this.config.refreshTokenReuseGrace * 1000;
    // No grace (0) means none: not even for a reuse in the same millisecond, or one that
    // looks earlier than the rotation because the database clock is ahead of ours.
    if (grace > 0 && sinceRotation <= grace) {
      await this.refreshTokens.addToken(state.grant.id, sha256(successor), expiresAt);
      return {
        client,
        subject: state.grant.subject,
        scopes,
        binding: { kind: 'existing', grantId: state.grant.id, refreshToken: successor, sessionId: state.grant.sessionId, authTime: state.grant.authTime },
        grantType: this.grantType,
        remoteAddress: context.remoteAddress,
        ...(await this.idToken(state.grant, scopes)),
      };
    }
    await this.revocation.revokeGrant(state.grant.id, 'refresh_token_reuse', {
      clientId: client.clientId,
      subject: state.grant.subject,
      ...(context.remoteAddress ? { remoteAddress: context.remoteAddress } : {}),
    });
    throw invalidGrant('refresh token was already used; the grant is revoked');
  }

  /** OpenID Connect Core §12.2: a refreshed ID token for grants that include openid (signed by today's key). */
  private async idToken(grant: GrantRecord, scopes: readonly string[]): Promise<Pick<TokenGrant, 'idToken'>> {
    if (!scopes.includes('openid')) return {};
    const user = await this.users.findBySubject(grant.subject);
    if (!user || user.disabled) throw invalidGrant('the user of this grant cannot sign in any more');
    return { idToken: { user, authTime: grant.authTime ?? new Date(), sessionId: grant.sessionId } };
  }
}
