import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../config/configuration';
import { decodeJwt } from '../common/jwt';
import { KeyStore, LoadedKey } from '../keys/key-store';
import { AccessTokenClaims, AccessTokenVerifier } from '../tokens/access-token-verifier';
import { DenyList } from '../tokens/deny-list';

/** Who is calling the resource API, from a verified access token. */
export interface ResourcePrincipal {
  subject: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  tokenId: string;
  grantId?: string;
}

export const toPrincipal = (claims: AccessTokenClaims): ResourcePrincipal => ({
  subject: claims.sub,
  clientId: claims.client_id,
  scopes: claims.scope.split(' ').filter(Boolean),
  expiresAt: claims.exp,
  tokenId: claims.jti,
  ...(claims.grant_id ? { grantId: claims.grant_id } : {}),
});

/** Algorithms passport-jwt (jsonwebtoken) may accept; each key additionally pins its own. */
const ACCEPTED_ALGORITHMS = ['ES256', 'RS256', 'PS256'] as const;

/**
 * passport-jwt strategy for the resource API. The key comes from the KeyStore's
 * in-memory KeyObjects by `kid` (no database), and must be the key of the token's own
 * algorithm; `typ` must be at+jwt (RFC 9068); issuer, audience and expiry (with the
 * configured leeway) are checked by jsonwebtoken; the deny list by `validate`.
 */
@Injectable()
export class AccessTokenStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    keys: KeyStore,
    private readonly config: AppConfig,
    private readonly denyList: DenyList,
    private readonly verifier: AccessTokenVerifier,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      passReqToCallback: true,
      issuer: config.issuer,
      audience: config.accessTokenAudience,
      algorithms: [...ACCEPTED_ALGORITHMS],
      jsonWebTokenOptions: { clockTolerance: config.clockSkew },
      secretOrKeyProvider: (_request: unknown, rawToken: string | Buffer, done: (error: unknown, key?: string | Buffer) => void) => {
        const decoded = decodeJwt(String(rawToken));
        const typ = typeof decoded?.header.typ === 'string' ? decoded.header.typ.toLowerCase() : '';
        if (!decoded || (typ !== 'at+jwt' && typ !== 'application/at+jwt')) return done(new Error('not an access token'));
        const kid = decoded.header.kid;
        if (typeof kid !== 'string') return done(new Error('unknown signing key'));
        const provide = (key: LoadedKey | undefined) => {
          if (!key || key.alg !== decoded.header.alg) return done(new Error('unknown signing key'));
          // jsonwebtoken accepts KeyObjects; the typings only name strings and buffers.
          done(null, key.publicKey as unknown as Buffer);
        };
        // A known key answers at once; a kid not loaded yet waits for one shared re-read.
        const known = keys.verificationKey(kid);
        if (known) return provide(known);
        keys.findVerificationKey(kid).then(provide, (error: unknown) => done(error));
      },
    });
  }

  validate(request: FastifyRequest, claims: AccessTokenClaims): ResourcePrincipal | false {
    if (typeof claims.sub !== 'string' || typeof claims.client_id !== 'string' || typeof claims.jti !== 'string' || typeof claims.scope !== 'string')
      return false;
    // RFC 9068 §2.2: exp and iat are required (jsonwebtoken checks exp only when present).
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return false;
    if (claims.iat - this.config.clockSkew > Date.now() / 1000) return false; // issued in the future
    if (this.denyList.isRevoked(claims)) return false;
    // Remember the verified token, so that its next requests skip the signature check.
    const token = ExtractJwt.fromAuthHeaderAsBearerToken()(request as never);
    if (token) this.verifier.remember(token, claims);
    return toPrincipal(claims);
  }
}
