import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ASYMMETRIC_ALGORITHMS, AsymmetricAlgorithm, decodeJwt, signJwt, verifyJwtSignature } from './jwt';

interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function keyPair(alg: AsymmetricAlgorithm): KeyPair {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
  }
}

const segment = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const payload = { iss: 'https://issuer.example', sub: 'alice', iat: 1_700_000_000, nested: { scope: 'openid' } };

/** Verifies a compact token end to end: decode, then check the signature with a pinned algorithm. */
function verifyToken(token: string, alg: AsymmetricAlgorithm, key: KeyObject): boolean {
  const decoded = decodeJwt(token);
  return decoded !== undefined && verifyJwtSignature(decoded, alg, key);
}

const keys = {} as Record<AsymmetricAlgorithm, KeyPair>;
const otherKeys = {} as Record<AsymmetricAlgorithm, KeyPair>;

beforeAll(() => {
  for (const alg of ASYMMETRIC_ALGORITHMS) {
    keys[alg] = keyPair(alg);
    otherKeys[alg] = keyPair(alg);
  }
});

describe('signJwt / verifyJwtSignature', () => {
  it.each(ASYMMETRIC_ALGORITHMS)('round-trips a %s token: the decoded header and payload are what was signed', (alg) => {
    const token = signJwt({ alg, typ: 'at+jwt', kid: 'k1' }, payload, alg, keys[alg].privateKey);
    const decoded = decodeJwt(token);
    expect(decoded).toBeDefined();
    expect(decoded!.header).toEqual({ alg, typ: 'at+jwt', kid: 'k1' });
    expect(decoded!.payload).toEqual(payload);
    expect(verifyJwtSignature(decoded!, alg, keys[alg].publicKey)).toBe(true);
  });

  it.each(ASYMMETRIC_ALGORITHMS)('refuses a %s token checked with another key of the same algorithm', (alg) => {
    const token = signJwt({ alg }, payload, alg, keys[alg].privateKey);
    expect(verifyToken(token, alg, otherKeys[alg].publicKey)).toBe(false);
  });

  it('produces ES256 signatures in the 64-byte JOSE (r || s) form, not DER', () => {
    const token = signJwt({ alg: 'ES256' }, payload, 'ES256', keys.ES256.privateKey);
    expect(decodeJwt(token)!.signature).toHaveLength(64);
  });

  it('refuses a token whose header alg differs from the algorithm pinned by the key (RS256 token, ES256 key)', () => {
    const token = signJwt({ alg: 'RS256' }, payload, 'RS256', keys.RS256.privateKey);
    expect(verifyToken(token, 'ES256', keys.ES256.publicKey)).toBe(false);
  });

  it('refuses a token whose header alg was rewritten, even when the key really signed it', () => {
    const token = signJwt({ alg: 'RS256' }, payload, 'RS256', keys.RS256.privateKey);
    const [, body, signature] = token.split('.');
    const relabelled = `${segment({ alg: 'PS256' })}.${body}.${signature}`;
    expect(verifyToken(relabelled, 'RS256', keys.RS256.publicKey)).toBe(false);
    expect(verifyToken(relabelled, 'PS256', keys.RS256.publicKey)).toBe(false);
  });

  it('refuses RS256 and PS256 signatures presented as each other with the same RSA key', () => {
    const rs = signJwt({ alg: 'PS256' }, payload, 'RS256', keys.RS256.privateKey);
    expect(verifyToken(rs, 'PS256', keys.RS256.publicKey)).toBe(false);
  });

  it('refuses alg none, with or without a signature', () => {
    const unsigned = `${segment({ alg: 'none' })}.${segment(payload)}.`;
    for (const alg of ASYMMETRIC_ALGORITHMS) expect(verifyToken(unsigned, alg, keys[alg].publicKey)).toBe(false);
    const token = signJwt({ alg: 'ES256' }, payload, 'ES256', keys.ES256.privateKey);
    const withNone = `${segment({ alg: 'none' })}.${token.split('.').slice(1).join('.')}`;
    expect(verifyToken(withNone, 'ES256', keys.ES256.publicKey)).toBe(false);
  });

  it.each(ASYMMETRIC_ALGORITHMS)('refuses a %s token whose payload was changed after signing', (alg) => {
    const token = signJwt({ alg }, payload, alg, keys[alg].privateKey);
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${segment({ ...payload, sub: 'mallory' })}.${signature}`;
    expect(verifyToken(tampered, alg, keys[alg].publicKey)).toBe(false);
  });

  it.each(ASYMMETRIC_ALGORITHMS)('refuses a %s token whose signature was changed, truncated or removed', (alg) => {
    const token = signJwt({ alg }, payload, alg, keys[alg].privateKey);
    const [header, body, signature] = token.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    bytes[bytes.length - 1] ^= 0x01;
    expect(verifyToken(`${header}.${body}.${bytes.toString('base64url')}`, alg, keys[alg].publicKey)).toBe(false);
    expect(verifyToken(`${header}.${body}.${signature.slice(0, -4)}`, alg, keys[alg].publicKey)).toBe(false);
    expect(verifyToken(`${header}.${body}.`, alg, keys[alg].publicKey)).toBe(false);
  });

  it('refuses a signature made with a key of another type than the pinned one, without throwing', () => {
    const token = signJwt({ alg: 'ES256' }, payload, 'ES256', keys.ES256.privateKey);
    expect(verifyToken(token, 'ES256', keys.EdDSA.publicKey)).toBe(false);
  });

  it('produces an ES256 token that jose verifies with the public JWK', async () => {
    const token = signJwt({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }, { ...payload, exp: Math.floor(Date.now() / 1000) + 60 }, 'ES256', keys.ES256.privateKey);
    const jwk = keys.ES256.publicKey.export({ format: 'jwk' });
    const key = await importJWK({ ...jwk, alg: 'ES256' }, 'ES256');
    const { payload: verified, protectedHeader } = await jwtVerify(token, key, { algorithms: ['ES256'], issuer: payload.iss, typ: 'at+jwt' });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'k1' });
    expect(verified.sub).toBe('alice');
  });
});

describe('decodeJwt', () => {
  const header = segment({ alg: 'ES256' });
  const body = segment(payload);
  const signature = Buffer.from('signature').toString('base64url');

  it('splits a well-formed token into header, payload, signing input and signature bytes', () => {
    const decoded = decodeJwt(`${header}.${body}.${signature}`);
    expect(decoded).toEqual({ header: { alg: 'ES256' }, payload, signingInput: `${header}.${body}`, signature: Buffer.from('signature') });
  });

  it('rejects a token of two segments', () => {
    expect(decodeJwt(`${header}.${body}`)).toBeUndefined();
  });

  it('rejects a token of four or five segments (JWE and friends)', () => {
    expect(decodeJwt(`${header}.${body}.${signature}.${signature}`)).toBeUndefined();
    expect(decodeJwt(`${header}.${body}.${signature}.${signature}.${signature}`)).toBeUndefined();
  });

  it('rejects empty header or payload segments', () => {
    expect(decodeJwt(`.${body}.${signature}`)).toBeUndefined();
    expect(decodeJwt(`${header}..${signature}`)).toBeUndefined();
    expect(decodeJwt('')).toBeUndefined();
    expect(decodeJwt('..')).toBeUndefined();
  });

  it('rejects segments that are not base64url (padding, +, /, spaces)', () => {
    const padded = Buffer.from(JSON.stringify({ alg: 'ES256', x: 'a' })).toString('base64');
    expect(padded).toMatch(/=$/);
    expect(decodeJwt(`${padded}.${body}.${signature}`)).toBeUndefined();
    expect(decodeJwt(`${header}.${body}.${signature}=`)).toBeUndefined();
    expect(decodeJwt(`${header}.${body}.ab+/`)).toBeUndefined();
    expect(decodeJwt(`${header} .${body}.${signature}`)).toBeUndefined();
  });

  it('rejects segments that are base64url but not JSON', () => {
    expect(decodeJwt(`${segment('not json')}.${body}.${signature}`)).toBeUndefined();
    expect(decodeJwt(`${header}.${segment('{"sub":')}.${signature}`)).toBeUndefined();
  });

  it('rejects JSON that is not an object: array, string, number, null payloads or headers', () => {
    for (const value of [['sub'], 'sub', 42, null]) {
      expect(decodeJwt(`${header}.${segment(value)}.${signature}`)).toBeUndefined();
      expect(decodeJwt(`${segment(value)}.${body}.${signature}`)).toBeUndefined();
    }
  });

  it('rejects a header without a string alg', () => {
    expect(decodeJwt(`${segment({ typ: 'JWT' })}.${body}.${signature}`)).toBeUndefined();
    expect(decodeJwt(`${segment({ alg: 1 })}.${body}.${signature}`)).toBeUndefined();
  });

  it('rejects tokens longer than 8192 characters, and accepts one of exactly 8192', () => {
    const prefix = `${header}.${body}.`;
    const ofLength = (length: number) => prefix + 'A'.repeat(length - prefix.length);
    expect(ofLength(8192)).toHaveLength(8192);
    expect(decodeJwt(ofLength(8192))).toBeDefined();
    expect(decodeJwt(ofLength(8193))).toBeUndefined();
    expect(decodeJwt(`${header}.${segment({ sub: 'a'.repeat(10_000) })}.${signature}`)).toBeUndefined();
  });
});
