import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditLog } from '../../audit/audit-log';
import { Client } from '../../clients/client.entity';
import { constantTimeEqual, randomToken, sha256 } from '../../common/crypto';
import { FormParams } from '../../common/form';
import { invalidGrant, invalidRequest } from '../../common/oauth-error';
import { RefreshTokenStore } from '../../tokens/refresh-token.store';
import { RevocationService } from '../../tokens/revocation.service';
import { TokenIssuer } from '../../tokens/token-issuer';
import { TokenGrant, wantsRefreshToken } from '../../tokens/token-grant';
import { UsersService } from '../../users/users.service';
import { AuthorizationCodeRecord, AuthorizationCodesService } from '../authorization-codes.service';
import { GrantContext, GrantStrategy, TokenGrantStrategy } from './grant-strategy';

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * RFC 6749 §4.1.3 with RFC 7636 PKCE. The code is checked against the client, the
 * redirect URI and the PKCE challenge it was issued with, then consumed atomically. A
 * second redemption fails and revokes every token issued from the code (§4.1.2).
 */
@Injectable()
@TokenGrantStrategy()
export class AuthorizationCodeGrant implements GrantStrategy {
  readonly grantType = 'authorization_code';

  constructor(
    private readonly codes: AuthorizationCodesService,
    private readonly revocation: RevocationService,
    private readonly audit: AuditLog,
    private readonly users: UsersService,
    private readonly grants: RefreshTokenStore,
    private readonly issuer: TokenIssuer,
  ) {}

  async handle(client: Client, params: FormParams, context: GrantContext): Promise<TokenGrant> {
    if (!params.code) throw invalidRequest('code is required');
    const code = await this.codes.find(params.code);
    if (!code) throw invalidGrant('authorization code is invalid');
    if (code.usedAt) return this.replayed(code, client, context);
    if (code.expiresAt.getTime() <= Date.now()) throw invalidGrant('authorization code has expired');
    if (code.clientId !== client.clientId) throw invalidGrant('authorization code was issued to another client');
    this.checkRedirectUri(code, params.redirect_uri);
    this.checkVerifier(code, params.code_verifier);
    const user = code.scopes.includes('openid') ? await this.users.findBySubject(code.subject) : null;
    if (code.scopes.includes('openid') && (!user || user.disabled)) throw invalidGrant('the user of this code cannot sign in any more');

    // One statement spends the code and creates its grant (with the first refresh token).
    const refreshToken = wantsRefreshToken(client, code.scopes) ? randomToken() : undefined;
    const grantId = await this.grants.createGrantForCode(
      sha256(params.code),
      {
        id: code.grantId,
        clientId: client.clientId,
        subject: code.subject,
        scopes: code.scopes,
        grantType: this.grantType,
        sessionId: code.sessionId,
        authTime: code.authTime,
      },
      this.issuer.refreshTokenExpiry({ client }),
      refreshToken && sha256(refreshToken),
    );
    if (!grantId) return this.replayed(code, client, context);
    return {
      client,
      subject: code.subject,
      scopes: code.scopes,
      binding: { kind: 'existing', grantId, refreshToken, sessionId: code.sessionId, authTime: code.authTime },
      ...(code.claims?.userinfo ? { userinfoClaims: Object.keys(code.claims.userinfo) } : {}),
      grantType: this.grantType,
      remoteAddress: context.remoteAddress,
      ...(user ? { idToken: { user, authTime: code.authTime, nonce: code.nonce, sessionId: code.sessionId, requestedClaims: code.claims?.id_token } } : {}),
    };
  }

  private checkRedirectUri(code: AuthorizationCodeRecord, redirectUri: string | undefined): void {
    // RFC 6749 §4.1.3: required when the authorization request had it, and then identical.
    if (redirectUri === undefined) {
      if (code.redirectUriGiven) throw invalidGrant('redirect_uri is required: the authorization request named one');
      return;
    }
    if (redirectUri !== code.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
  }

  private checkVerifier(code: AuthorizationCodeRecord, verifier: string | undefined): void {
    if (!code.codeChallenge) {
      if (verifier !== undefined) throw invalidGrant('code_verifier was sent for a code issued without a code_challenge');
      return;
    }
    if (verifier === undefined) throw invalidGrant('code_verifier is required');
    if (!VERIFIER.test(verifier)) throw invalidGrant('code_verifier is malformed');
    const derived = code.codeChallengeMethod === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url');
    if (!constantTimeEqual(derived, code.codeChallenge)) throw invalidGrant('code_verifier does not match the code_challenge');
  }

  private async replayed(code: AuthorizationCodeRecord, client: Client, context: GrantContext): Promise<never> {
    await this.revocation.revokeGrant(code.grantId, 'authorization_code_reuse', {
      clientId: client.clientId,
      subject: code.subject,
      remoteAddress: context.remoteAddress,
    });
    throw invalidGrant('authorization code was already used; the tokens issued from it are revoked');
  }
}
