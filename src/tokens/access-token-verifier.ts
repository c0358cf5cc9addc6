import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { decodeJwt, verifyJwtSignature } from '../common/jwt';
import { KeyStore } from '../keys/key-store';
import { DenyList } from './deny-list';

/** The claims of a valid Gatehouse access token (RFC 9068). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  grant_id?: string;
  sid?: string;
  auth_time?: number;
  [claim: string]: unknown;
}

const CACHE_MAX = 50_000;
const JWT_TYPES = new Set(['at+jwt', 'application/at+jwt']);

/**
 * Verifies access tokens without touching the database: signature with the cached
 * KeyObject named by `kid` (its algorithm pinned by the key, never by the token),
 * `typ`, issuer, expiry with a small leeway. A verified token is remembered until it
 * expires, so a token seen before costs a map lookup; the deny list is checked on
 * every call, so revocation is never cached away.
 */
@Injectable()
export class AccessTokenVerifier {
  private readonly cache = new Map<string, AccessTokenClaims>();

  constructor(
    private readonly keys: KeyStore,
    private readonly denyList: DenyList,
    private readonly config: AppConfig,
  ) {}

  /** The token's claims when it is a live, unrevoked Gatehouse access token. */
  verify(token: string): AccessTokenClaims | undefined {
    if (this.cache.has(token)) return this.cached(token);
    const claims = this.verifyUncached(token, Date.now() / 1000);
    if (claims === undefined) return undefined;
    this.remember(token, claims);
    return this.denyList.isRevoked(claims) ? undefined : claims;
  }

  /**
   * Like verify(), but a token naming a key this instance has not loaded yet (created moments
   * ago on another instance) waits for one shared re-read of the keys and is checked again.
   */
  async verifyWithKeyRefresh(token: string): Promise<AccessTokenClaims | undefined> {
    const claims = this.verify(token);
    if (claims !== undefined || this.cache.has(token)) return claims;
    const kid = decodeJwt(token)?.header.kid;
    if (typeof kid !== 'string' || this.keys.verificationKey(kid) || !(await this.keys.findVerificationKey(kid))) return undefined;
    return this.verify(token);
  }

  /** The claims of a token verified before, if it is still live and not revoked. */
  cached(token: string): AccessTokenClaims | undefined {
    const claims = this.cache.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp + this.config.clockSkew <= Date.now() / 1000) {
      this.cache.delete(token);
      return undefined;
    }
    return this.denyList.isRevoked(claims) ? undefined : claims;
  }

  /** Records a token whose signature and claims have been verified, until it expires. */
  remember(token: string, claims: AccessTokenClaims): void {
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, claims);
  }

  /** Whether the token's `aud` names `audience`. */
  static hasAudience(claims: AccessTokenClaims, audience: string): boolean {
    return Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience;
  }

  private verifyUncached(token: string, now: number): AccessTokenClaims | undefined {
    const decoded = decodeJwt(token);
    if (!decoded) return undefined;
    const { header, payload } = decoded;
    if (typeof header.typ !== 'string' || !JWT_TYPES.has(header.typ.toLowerCase())) return undefined;
    if (typeof header.kid !== 'string' || header.crit !== undefined) return undefined;
    const key = this.keys.verificationKey(header.kid);
    if (!key || !verifyJwtSignature(decoded, key.alg, key.publicKey)) return undefined;
    const skew = this.config.clockSkew;
    if (payload.iss !== this.config.issuer) return undefined;
    if (typeof payload.exp !== 'number' || payload.exp + skew <= now) return undefined;
    if (typeof payload.iat !== 'number' || payload.iat - skew > now) return undefined;
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf - skew > now)) return undefined;
    if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string' || typeof payload.jti !== 'string') return undefined;
    if (typeof payload.aud !== 'string' && !Array.isArray(payload.aud)) return undefined;
    if (typeof payload.scope !== 'string') return undefined;
    return payload as AccessTokenClaims;
  }
}
