import { createHmac, randomBytes } from 'node:crypto';
import { AsymmetricAlgorithm } from '../../src/common/jwt';
import { KeyStore } from '../../src/keys/key-store';
import type { TestApp } from './test-app';

const segment = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Claims of a well-formed Gatehouse access token for `app`, valid now; override any of them. */
export function accessTokenClaims(app: TestApp, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: app.config.issuer,
    sub: 'crafted-subject',
    aud: app.config.accessTokenAudience,
    client_id: 'crafted-client',
    scope: 'notes:read notes:write',
    iat: now,
    exp: now + 300,
    jti: randomBytes(16).toString('base64url'),
    ...overrides,
  };
}

/**
 * A token signed with the server's own active key (taken from the running app), so that
 * a test can isolate one claim check (issuer, audience, expiry, typ) from the signature check.
 */
export function signWithServerKey(app: TestApp, claims: Record<string, unknown>, options: { typ?: string; alg?: AsymmetricAlgorithm } = {}): string {
  return app.app.get(KeyStore).sign(options.alg ?? app.config.accessTokenSigningAlg, claims, options.typ ?? 'at+jwt').token;
}

/** A compact JWS with the given header and payload and an arbitrary (or empty) signature. */
export function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${segment(header)}.${segment(payload)}.${signature}`;
}

/** An HS256 JWS whose HMAC key is `secret` (e.g. the server's public key, for algorithm-confusion attacks). */
export function hs256Jwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer): string {
  const input = `${segment({ ...header, alg: 'HS256' })}.${segment(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Replaces the payload of a signed token, keeping its header and signature. */
export function withPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${segment(payload)}.${signature}`;
}
