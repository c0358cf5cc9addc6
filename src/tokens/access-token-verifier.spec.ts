import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AsymmetricAlgorithm, JwtHeader, signJwt } from '../common/jwt';
import { AppConfig } from '../config/configuration';
import { ChangeFeed } from '../database/change-feed';
import { KeyStore, LoadedKey } from '../keys/key-store';
import { AccessTokenClaims, AccessTokenVerifier } from './access-token-verifier';
import { DenyList } from './deny-list';
import type { DataSource } from 'typeorm';

const ISSUER = 'https://id.example.com';
const SKEW = 30;
const NOW_MS = new Date('2030-01-01T12:00:00.000Z').getTime();
const NOW = NOW_MS / 1000;

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

function loadedKey(kid: string, alg: AsymmetricAlgorithm, publicKey: KeyObject): LoadedKey {
  return { kid, alg, publicKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg }, activatesAt: 0, unpublishAt: null };
}

function claims(overrides: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return {
    iss: ISSUER,
    sub: 'user-1',
    aud: `${ISSUER}/api`,
    client_id: 'app',
    scope: 'notes:read',
    iat: NOW - 60,
    exp: NOW + 840,
    jti: 'jti-1',
    grant_id: 'grant-1',
    sid: 'session-1',
    ...overrides,
  };
}

/** A token signed with the EC key `kid-ec` unless told otherwise. */
function token(
  payload: Record<string, unknown> = claims(),
  header: Partial<JwtHeader> = {},
  alg: AsymmetricAlgorithm = 'ES256',
  key: KeyObject = ec.privateKey,
): string {
  return signJwt({ alg, typ: 'at+jwt', kid: 'kid-ec', ...header } as JwtHeader, payload, alg, key);
}

const without = (name: keyof AccessTokenClaims): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...claims() };
  delete copy[name];
  return copy;
};

let keys: Map<string, LoadedKey>;
let verificationKey: ReturnType<typeof vi.fn<KeyStore['verificationKey']>>;
let denyList: DenyList;
let verifier: AccessTokenVerifier;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW_MS);
  keys = new Map([['kid-ec', loadedKey('kid-ec', 'ES256', ec.publicKey)]]);
  verificationKey = vi.fn<KeyStore['verificationKey']>((kid: string) => keys.get(kid));
  // The real deny list: its in-memory part needs neither the database nor the change feed.
  denyList = new DenyList({} as DataSource, {} as ChangeFeed, {} as AppConfig);
  verifier = new AccessTokenVerifier({ verificationKey } as unknown as KeyStore, denyList, { issuer: ISSUER, clockSkew: SKEW } as AppConfig);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('AccessTokenVerifier accepts', () => {
  it('a valid RFC 9068 access token, answering its claims', () => {
    expect(verifier.verify(token())).toEqual(claims());
    expect(verificationKey).toHaveBeenCalledWith('kid-ec');
  });

  it('typ application/at+jwt, and typ in any case', () => {
    expect(verifier.verify(token(claims(), { typ: 'application/at+jwt' }))).toBeDefined();
    expect(verifier.verify(token(claims({ jti: 'j2' }), { typ: 'AT+JWT' }))).toBeDefined();
  });

  it('a token signed with any algorithm, when the key of its kid has that algorithm', () => {
    keys.set('kid-rsa', loadedKey('kid-rsa', 'PS256', rsa.publicKey));
    expect(verifier.verify(token(claims(), { kid: 'kid-rsa' }, 'PS256', rsa.privateKey))).toBeDefined();
  });

  it('an audience given as an array', () => {
    expect(verifier.verify(token(claims({ aud: ['https://a.example', 'https://b.example'] })))?.aud).toEqual(['https://a.example', 'https://b.example']);
  });

  it('a token expired by less than the clock skew, and one issued less than the skew in the future', () => {
    expect(verifier.verify(token(claims({ exp: NOW - SKEW + 1, jti: 'a' })))).toBeDefined();
    expect(verifier.verify(token(claims({ iat: NOW + SKEW, jti: 'b' })))).toBeDefined();
  });
});

describe('AccessTokenVerifier refuses', () => {
  it('anything that is not a compact JWS', () => {
    for (const value of ['', 'opaque-refresh-token', 'a.b', `${token()}.x`]) expect(verifier.verify(value)).toBeUndefined();
  });

  it('a typ other than at+jwt, or none (an ID token or another JWT is not an access token)', () => {
    expect(verifier.verify(token(claims(), { typ: 'JWT' }))).toBeUndefined();
    expect(verifier.verify(token(claims(), { typ: 'id_token+jwt' }))).toBeUndefined();
    expect(verifier.verify(token(claims(), { typ: undefined }))).toBeUndefined();
  });

  it('a token without kid, without looking for a key', () => {
    expect(verifier.verify(token(claims(), { kid: undefined }))).toBeUndefined();
    expect(verificationKey).not.toHaveBeenCalled();
  });

  it('a token whose kid the key store does not know', () => {
    expect(verifier.verify(token(claims(), { kid: 'kid-unknown' }))).toBeUndefined();
    expect(verificationKey).toHaveBeenCalledWith('kid-unknown');
  });

  it('a token whose header alg is not the algorithm of the key (RS256 token, ES256 key)', () => {
    expect(verifier.verify(token(claims(), {}, 'RS256', rsa.privateKey))).toBeUndefined();
  });

  it('a token signed by another key under a known kid', () => {
    expect(verifier.verify(token(claims(), {}, 'ES256', otherEc.privateKey))).toBeUndefined();
  });

  it('a token with critical header extensions it does not understand', () => {
    expect(verifier.verify(token(claims(), { crit: ['exp'] }))).toBeUndefined();
  });

  it('a token whose payload was changed after signing', () => {
    const [header, , signature] = token().split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify(claims({ scope: 'admin' }))).toString('base64url')}.${signature}`;
    expect(verifier.verify(forged)).toBeUndefined();
  });

  it('a token of another issuer', () => {
    expect(verifier.verify(token(claims({ iss: 'https://evil.example' })))).toBeUndefined();
    expect(verifier.verify(token(claims({ iss: `${ISSUER}/` })))).toBeUndefined();
  });

  it('a token expired by the clock skew or more', () => {
    expect(verifier.verify(token(claims({ exp: NOW - SKEW })))).toBeUndefined();
    expect(verifier.verify(token(claims({ exp: NOW - 3600 })))).toBeUndefined();
  });

  it('a token issued in the future beyond the clock skew', () => {
    expect(verifier.verify(token(claims({ iat: NOW + SKEW + 1 })))).toBeUndefined();
  });

  it('a token not valid before a time beyond the clock skew', () => {
    expect(verifier.verify(token({ ...claims(), nbf: NOW + SKEW + 1 }))).toBeUndefined();
    expect(verifier.verify(token({ ...claims(), nbf: 'soon' }))).toBeUndefined();
  });

  it.each(['jti', 'client_id', 'sub', 'scope', 'aud', 'exp', 'iat', 'iss'] as const)('a token without %s', (name) => {
    expect(verifier.verify(token(without(name)))).toBeUndefined();
  });

  it('claims of the wrong type: string exp, numeric sub, object aud', () => {
    expect(verifier.verify(token({ ...claims(), exp: String(NOW + 600) }))).toBeUndefined();
    expect(verifier.verify(token({ ...claims(), sub: 42 }))).toBeUndefined();
    expect(verifier.verify(token({ ...claims(), aud: { a: 1 } }))).toBeUndefined();
  });
});

describe('AccessTokenVerifier cache and deny list', () => {
  it('remembers a verified token: the second call looks up no key', () => {
    const value = token();
    expect(verifier.verify(value)).toBeDefined();
    expect(verifier.verify(value)).toEqual(claims());
    expect(verificationKey).toHaveBeenCalledTimes(1);
    expect(verifier.cached(value)).toEqual(claims());
  });

  it('does not remember refused tokens: a kid the store learns later verifies then', () => {
    const value = token(claims(), { kid: 'kid-new' });
    expect(verifier.verify(value)).toBeUndefined();
    expect(verifier.cached(value)).toBeUndefined();
    keys.set('kid-new', loadedKey('kid-new', 'ES256', ec.publicKey));
    expect(verifier.verify(value)).toBeDefined();
  });

  it('refuses a token revoked after it was cached (by jti)', () => {
    const value = token();
    expect(verifier.verify(value)).toBeDefined();
    denyList.add('token', 'jti-1', NOW_MS + 900_000);
    expect(verifier.verify(value)).toBeUndefined();
    expect(verifier.cached(value)).toBeUndefined();
  });

  it('refuses cached tokens whose grant or session was revoked', () => {
    const byGrant = token(claims({ jti: 'g' }));
    const bySession = token(claims({ jti: 's', grant_id: 'grant-2' }));
    expect(verifier.verify(byGrant)).toBeDefined();
    expect(verifier.verify(bySession)).toBeDefined();
    denyList.add('grant', 'grant-1', NOW_MS + 900_000);
    expect(verifier.verify(byGrant)).toBeUndefined();
    expect(verifier.verify(bySession)).toBeDefined();
    denyList.add('session', 'session-1', NOW_MS + 900_000);
    expect(verifier.verify(bySession)).toBeUndefined();
  });

  it('refuses a token already revoked when first seen', () => {
    denyList.add('token', 'jti-1', NOW_MS + 900_000);
    expect(verifier.verify(token())).toBeUndefined();
    expect(verifier.verify(token())).toBeUndefined();
  });

  it('does not let revoking one token affect another', () => {
    const other = token(claims({ jti: 'jti-2', grant_id: 'grant-2', sid: 'session-2' }));
    denyList.add('token', 'jti-1', NOW_MS + 900_000);
    expect(verifier.verify(other)).toBeDefined();
  });

  it('forgets a cached token once it has expired beyond the clock skew', () => {
    const value = token(claims({ exp: NOW + 60 }));
    expect(verifier.verify(value)).toBeDefined();
    vi.setSystemTime(NOW_MS + (60 + SKEW - 1) * 1000);
    expect(verifier.verify(value)).toBeDefined();
    vi.setSystemTime(NOW_MS + (60 + SKEW) * 1000);
    expect(verifier.cached(value)).toBeUndefined();
    expect(verifier.verify(value)).toBeUndefined();
  });
});

describe('AccessTokenVerifier.hasAudience', () => {
  it('matches a string audience exactly and an array audience by membership', () => {
    expect(AccessTokenVerifier.hasAudience(claims({ aud: 'https://api.example' }), 'https://api.example')).toBe(true);
    expect(AccessTokenVerifier.hasAudience(claims({ aud: 'https://api.example' }), 'https://api.example/')).toBe(false);
    expect(AccessTokenVerifier.hasAudience(claims({ aud: ['https://a.example', 'https://api.example'] }), 'https://api.example')).toBe(true);
    expect(AccessTokenVerifier.hasAudience(claims({ aud: ['https://a.example'] }), 'https://api.example')).toBe(false);
  });
});
