import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { ClientsService } from '../clients/clients.service';
import { OAuthError } from '../common/oauth-error';
import { AccessTokenVerifier } from '../tokens/access-token-verifier';
import { IdTokenFactory } from '../tokens/id-token.factory';
import { SubjectIdentifiers } from '../tokens/subject-identifiers';
import { TokenEncryption } from '../tokens/token-encryption';
import { UsersService } from '../users/users.service';
import { userClaims } from './claims';

/** A UserInfo response: JSON claims, or a signed JWT for clients that registered userinfo_signed_response_alg. */
export type UserInfoResponse = { kind: 'json'; claims: Record<string, unknown> } | { kind: 'jwt'; token: string };

/**
 * OpenID Connect Core §5.3 UserInfo: the claims the access token's scopes release about
 * its subject. The token is verified like the resource API verifies it (no database);
 * only the user's current claims are read.
 */
@Injectable()
export class UserInfoService {
  constructor(
    private readonly tokens: AccessTokenVerifier,
    private readonly users: UsersService,
    private readonly clients: ClientsService,
    private readonly idTokens: IdTokenFactory,
    private readonly encryption: TokenEncryption,
    private readonly subjects: SubjectIdentifiers,
    private readonly config: AppConfig,
  ) {}

  async userInfo(accessToken: string | undefined): Promise<UserInfoResponse> {
    const challenge = `Bearer realm="${this.config.issuer}"`;
    if (!accessToken) throw new OAuthError('invalid_token', 'a bearer access token is required', 401, { 'WWW-Authenticate': challenge });
    const claims = await this.tokens.verifyWithKeyRefresh(accessToken);
    const invalid = () =>
      new OAuthError('invalid_token', 'the access token is invalid, expired or revoked', 401, {
        'WWW-Authenticate': `${challenge}, error="invalid_token"`,
      });
    if (!claims) throw invalid();
    const scopes = claims.scope.split(' ');
    if (!scopes.includes('openid')) {
      throw new OAuthError('insufficient_scope', 'UserInfo needs a token with the openid scope', 403, {
        'WWW-Authenticate': `${challenge}, error="insufficient_scope", scope="openid"`,
      });
    }
    const user = await this.users.findBySubject(claims.sub);
    if (!user || user.disabled) throw invalid();
    const client = await this.clients.find(claims.client_id);
    // Claims named by the authorization request's `claims` parameter (userinfo member) come on top of the scopes'.
    const requested = Array.isArray(claims.userinfo_claims) ? Object.fromEntries(claims.userinfo_claims.map((name) => [String(name), null])) : undefined;
    const released = { sub: client ? this.subjects.subjectFor(client, user.id) : user.id, ...userClaims(user, scopes, requested) };
    const alg = client?.metadata.userinfo_signed_response_alg;
    if (client && typeof alg === 'string') {
      const signed = this.idTokens.sign(client, { ...released, iss: this.config.issuer, aud: client.clientId }, alg);
      return { kind: 'jwt', token: await this.encryption.protect(client, signed, 'userinfo') };
    }
    if (client && this.encryption.wantsEncryption(client, 'userinfo')) {
      return { kind: 'jwt', token: await this.encryption.protect(client, JSON.stringify(released), 'userinfo', false) };
    }
    return { kind: 'json', claims: released };
  }
}
