import { Injectable } from '@nestjs/common';
import { Client } from '../../clients/client.entity';
import { FormParams } from '../../common/form';
import { invalidGrant, invalidRequest } from '../../common/oauth-error';
import { TokenGrant } from '../../tokens/token-grant';
import { enforce, RateLimits } from '../../rate-limit/rate-limits';
import { UsersService } from '../../users/users.service';
import { resolveScopes } from '../scope-policy';
import { GrantContext, GrantStrategy, TokenGrantStrategy } from './grant-strategy';

/**
 * RFC 6749 §4.3 resource owner password credentials, for trusted first-party clients
 * that opt in. Returns a refresh token so that the app can forget the password.
 * Every failure reads the same, whether or not the account exists. Password checks share
 * the login form's LOGIN_RATE_LIMIT per address, and the account lockout.
 */
@Injectable()
@TokenGrantStrategy()
export class PasswordGrant implements GrantStrategy {
  readonly grantType = 'password';

  constructor(
    private readonly users: UsersService,
    private readonly rateLimits: RateLimits,
  ) {}

  async handle(client: Client, params: FormParams, context: GrantContext): Promise<TokenGrant> {
    if (!params.username || !params.password) throw invalidRequest('username and password are required');
    const scopes = resolveScopes(params.scope, client.scopes);
    if (context.remoteAddress !== undefined) {
      enforce(await this.rateLimits.signIn.takeExact(context.remoteAddress), 'too many sign-in attempts from this address; retry later');
    }
    const result = await this.users.login(params.username, params.password, {
      via: 'password_grant',
      clientId: client.clientId,
      remoteAddress: context.remoteAddress,
    });
    if (!result.ok) throw invalidGrant('invalid username or password');
    return {
      client,
      subject: result.user.id,
      scopes,
      binding: { kind: 'new', grantType: this.grantType, refreshToken: client.grantTypes.includes('refresh_token'), authTime: new Date() },
      idToken: { user: result.user, authTime: new Date() },
      grantType: this.grantType,
      remoteAddress: context.remoteAddress,
    };
  }
}
