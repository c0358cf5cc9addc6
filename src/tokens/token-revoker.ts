import { Injectable } from '@nestjs/common';
import { sha256 } from '../common/crypto';
import { invalidRequest } from '../common/oauth-error';
import { Client } from '../clients/client.entity';
import { AccessTokenVerifier } from './access-token-verifier';
import { RefreshTokenStore } from './refresh-token.store';
import { RevocationService } from './revocation.service';

/**
 * RFC 7009 revocation of a token presented by its client. A refresh token ends its
 * whole grant (and the access tokens issued under it); an access token is denied
 * until it expires. Unknown tokens, and other clients' tokens, are ignored (200).
 */
@Injectable()
export class TokenRevoker {
  constructor(
    private readonly accessTokens: AccessTokenVerifier,
    private readonly refreshTokens: RefreshTokenStore,
    private readonly revocation: RevocationService,
  ) {}

  async revoke(client: Client, token: string | undefined, _hint: string | undefined, remoteAddress?: string): Promise<void> {
    if (!token) throw invalidRequest('token is required');
    // The type is told by the form (access tokens are JWTs; refresh tokens never contain a
    // dot), not by token_type_hint: a wrong hint must not stop the search (RFC 7009 §2.1).
    if (token.includes('.')) {
      const claims = await this.accessTokens.verifyWithKeyRefresh(token);
      if (claims && claims.client_id === client.clientId) {
        await this.revocation.revokeAccessToken(claims.jti, claims.exp, { clientId: client.clientId, subject: claims.sub, remoteAddress });
      }
      return;
    }
    const state = await this.refreshTokens.find(sha256(token));
    if (state && state.grant.clientId === client.clientId) {
      await this.revocation.revokeGrant(state.grant.id, 'revoked_by_client', { clientId: client.clientId, subject: state.grant.subject, remoteAddress });
    }
  }
}
