import { applyDecorators, CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AppConfig } from '../config/configuration';
import { OAuthError } from '../common/oauth-error';
import { AccessTokenGuard } from './access-token.guard';
import { ResourcePrincipal } from './access-token.strategy';

const SCOPES_KEY = 'gatehouse:required-scopes';

/** Answers 403 insufficient_scope (RFC 6750 §3.1) unless the token carries every required scope. */
@Injectable()
export class ScopesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const required = this.reflector.get<string[] | undefined>(SCOPES_KEY, context.getHandler()) ?? [];
    const principal = context.switchToHttp().getRequest<{ user: ResourcePrincipal }>().user;
    const missing = required.filter((scope) => !principal.scopes.includes(scope));
    if (missing.length === 0) return true;
    const scope = required.join(' ');
    throw new OAuthError('insufficient_scope', `this request needs the scope ${scope}`, 403, {
      'WWW-Authenticate': `Bearer realm="${this.config.issuer}", error="insufficient_scope", scope="${scope}"`,
    });
  }
}

/** Protects a route with a valid access token carrying all of `scopes` (none: any valid token). */
export const Scopes = (...scopes: string[]) =>
  applyDecorators(
    SetMetadata(SCOPES_KEY, scopes),
    UseGuards(AccessTokenGuard, ScopesGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, invalid, expired or revoked access token (RFC 6750)' }),
    ApiForbiddenResponse({ description: 'insufficient_scope' }),
  );

/** The caller of a route protected by @Scopes. */
export const Principal = createParamDecorator((_: unknown, context: ExecutionContext): ResourcePrincipal => {
  return context.switchToHttp().getRequest<{ user: ResourcePrincipal }>().user;
});
