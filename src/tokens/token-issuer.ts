import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AppConfig } from '../config/configuration';
import { randomToken, sha256 } from '../common/crypto';
import { KeyStore } from '../keys/key-store';
import { IdTokenFactory } from './id-token.factory';
import { RefreshTokenStore } from './refresh-token.store';
import { ResourceServersService } from './resource-servers.service';
import { TokenGrant, TokenResponse } from './token-grant';

/**
 * The one place that mints tokens. Access tokens are RFC 9068 JWTs signed with the
 * active key of the configured algorithm, synchronously with node:crypto; refresh
 * tokens are random and stored as hashes only.
 */
@Injectable()
export class TokenIssuer {
  constructor(
    private readonly keys: KeyStore,
    private readonly refreshTokens: RefreshTokenStore,
    private readonly idTokens: IdTokenFactory,
    private readonly resourceServers: ResourceServersService,
    private readonly config: AppConfig,
    private readonly audit: AuditLog,
  ) {}

  async issue(grant: TokenGrant): Promise<TokenResponse> {
    const { client, binding } = grant;
    let grantId: string | undefined;
    let refreshToken: string | undefined;
    let sessionId: string | null | undefined;
    let authTime: Date | null | undefined;
    if (binding.kind === 'new') {
      refreshToken = binding.refreshToken ? randomToken() : undefined;
      grantId = await this.refreshTokens.createGrant(
        {
          id: binding.grantId,
          clientId: client.clientId,
          subject: grant.subject,
          scopes: [...grant.scopes],
          grantType: binding.grantType,
          sessionId: binding.sessionId,
          authTime: binding.authTime,
        },
        this.refreshTokenExpiry(grant),
        refreshToken && sha256(refreshToken),
      );
      ({ sessionId, authTime } = binding);
    } else if (binding.kind === 'existing') {
      ({ grantId, refreshToken, sessionId, authTime } = binding);
    }

    const now = Math.floor(Date.now() / 1000);
    const lifetime = client.accessTokenTtl ?? this.config.accessTokenTtl;
    const audience = client.audience.length === 0 ? this.config.accessTokenAudience : client.audience.length === 1 ? client.audience[0] : client.audience;
    const scope = grant.scopes.join(' ');
    const claims: Record<string, unknown> = {
      iss: this.config.issuer,
      sub: grant.subject,
      aud: audience,
      client_id: client.clientId,
      scope,
      iat: now,
      exp: now + lifetime,
      jti: randomToken(16),
    };
    if (grantId) claims.grant_id = grantId;
    if (sessionId) claims.sid = sessionId;
    if (authTime) claims.auth_time = Math.floor(authTime.getTime() / 1000);
    if (grant.userinfoClaims?.length) claims.userinfo_claims = grant.userinfoClaims;
    const { token: jws } = this.keys.sign(this.config.accessTokenSigningAlg, claims, 'at+jwt');
    const token = await this.resourceServers.protect(audience, jws);

    const response: TokenResponse = { access_token: token, token_type: 'Bearer', expires_in: lifetime, scope };
    if (refreshToken) response.refresh_token = refreshToken;
    if (grant.idToken && grant.scopes.includes('openid')) {
      response.id_token = await this.idTokens.create({ ...grant.idToken, client, scopes: grant.scopes, accessToken: token });
    }
    void this.audit.record(grant.grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued', {
      clientId: client.clientId,
      subject: grant.subject,
      remoteAddress: grant.remoteAddress,
      details: {
        grant_type: grant.grantType,
        jti: claims.jti,
        grant_id: grantId,
        scope,
        refresh_token: refreshToken !== undefined,
        id_token: response.id_token !== undefined,
      },
    });
    return response;
  }

  /** When a refresh token minted now for this grant's client expires. */
  refreshTokenExpiry(grant: Pick<TokenGrant, 'client'>): Date {
    return new Date(Date.now() + (grant.client.refreshTokenTtl ?? this.config.refreshTokenTtl) * 1000);
  }
}
