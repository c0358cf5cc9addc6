import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import passport from 'passport';
import { AppConfig } from '../config/configuration';
import { OAuthError } from '../common/oauth-error';
import { AccessTokenVerifier } from '../tokens/access-token-verifier';
import { AccessTokenDecryptor } from './access-token-decryptor';
import { AccessTokenStrategy, ResourcePrincipal, toPrincipal } from './access-token.strategy';

type ResourceRequest = FastifyRequest & { user?: ResourcePrincipal };

/**
 * Bearer-token guard of the resource API (RFC 6750). A token verified before is
 * served from the verifier's cache (deny list still checked); a new one goes through
 * the application's passport-jwt strategy. Failures answer 401 with a WWW-Authenticate challenge.
 */
@Injectable()
export class AccessTokenGuard implements CanActivate {
  private readonly realm: string;

  constructor(
    private readonly verifier: AccessTokenVerifier,
    private readonly config: AppConfig,
    private readonly strategy: AccessTokenStrategy,
    private readonly decryptor: AccessTokenDecryptor,
  ) {
    this.realm = `Bearer realm="${config.issuer}"`;
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<ResourceRequest>();
    const header = request.headers.authorization;
    if (!header) throw new OAuthError('invalid_token', 'a bearer access token is required', 401, { 'WWW-Authenticate': this.realm });
    if (!/^Bearer [A-Za-z0-9\-._~+/]+=*$/i.test(header)) throw this.invalidToken("the Authorization header must be 'Bearer <token>'", 'invalid_request', 400);
    if (AccessTokenDecryptor.isEncrypted(header.slice(7))) return this.activateEncrypted(request, header.slice(7), context);
    const claims = this.verifier.cached(header.slice(7));
    if (claims && AccessTokenVerifier.hasAudience(claims, this.config.accessTokenAudience)) {
      request.user = toPrincipal(claims);
      return true;
    }
    return this.authenticate(request, context.switchToHttp().getResponse());
  }

  /** An encrypted access token: decrypted once, then checked exactly like a signed one. */
  private async activateEncrypted(request: ResourceRequest, token: string, context: ExecutionContext): Promise<boolean> {
    const inner = await this.decryptor.unwrap(token);
    if (!inner) throw this.invalidToken('the access token is invalid, expired or revoked');
    request.headers.authorization = `Bearer ${inner}`;
    return this.canActivate(context);
  }

  /**
   * Runs this application's own passport-jwt strategy, passed to passport as an instance
   * (a per-request copy, as passport makes of named strategies) rather than by the name
   * 'jwt': passport's registry is global to the process, so with two applications in one
   * process (tests, embedding) the name resolves to the last one created, with another
   * issuer, other keys and another deny list.
   */
  private authenticate(request: ResourceRequest, response: unknown): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const strategy = Object.create(this.strategy) as passport.Strategy;
      passport.authenticate(strategy, { session: false }, (error: unknown, user: ResourcePrincipal | false) => {
        try {
          request.user = this.handleRequest(error, user);
          resolve(true);
        } catch (refusal) {
          reject(refusal);
        }
      })(request, response, reject);
    });
  }

  handleRequest<T>(error: unknown, user: T | false): T {
    if (error || !user) throw this.invalidToken('the access token is invalid, expired or revoked');
    return user;
  }

  private invalidToken(description: string, code: 'invalid_token' | 'invalid_request' = 'invalid_token', status = 401): OAuthError {
    return new OAuthError(code, description, status, {
      'WWW-Authenticate': `${this.realm}, error="${code}", error_description="${description.replace(/"/g, "'")}"`,
    });
  }
}
