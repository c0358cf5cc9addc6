import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { sha256 } from '../common/crypto';
import { OAuthError } from '../common/oauth-error';
import { Client } from '../clients/client.entity';
import { AccessTokenVerifier } from './access-token-verifier';
import { RefreshTokenStore } from './refresh-token.store';

/** RFC 7662 §2.2 response. */
export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE: IntrospectionResponse = { active: false };

/**
 * RFC 7662 introspection. Access tokens are checked like the resource API checks them
 * (signature, expiry, deny list; no database); refresh tokens by their hash.
 */
@Injectable()
export class IntrospectionService {
  constructor(
    private readonly accessTokens: AccessTokenVerifier,
    private readonly refreshTokens: RefreshTokenStore,
    private readonly config: AppConfig,
  ) {}

  async introspect(client: Client, token: string | undefined, _hint: string | undefined): Promise<IntrospectionResponse> {
    if (client.isPublic) throw new OAuthError('invalid_client', 'public clients may not introspect tokens', 401);
    if (!token) throw new OAuthError('invalid_request', 'token is required');
    // The type is told by the form (access tokens are JWTs; refresh tokens never contain a
    // dot), not by token_type_hint: a wrong hint must not stop the search (RFC 7662 §2.1).
    if (token.includes('.')) {
      const claims = this.accessTokens.verify(token);
      if (claims) {
        return {
          active: true,
          token_type: 'Bearer',
          scope: claims.scope,
          client_id: claims.client_id,
          sub: claims.sub,
          aud: claims.aud,
          iss: claims.iss,
          exp: claims.exp,
          iat: claims.iat,
          jti: claims.jti,
          ...(claims.auth_time ? { auth_time: claims.auth_time } : {}),
        };
      }
      return INACTIVE; // a JWT that failed is never a refresh token
    }
    const state = await this.refreshTokens.find(sha256(token));
    if (!state || state.rotatedAt || state.grant.revokedAt || state.expiresAt.getTime() <= Date.now()) return INACTIVE;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: state.grant.scopes.join(' '),
      client_id: state.grant.clientId,
      sub: state.grant.subject,
      iss: this.config.issuer,
      exp: Math.floor(state.expiresAt.getTime() / 1000),
    };
  }
}
