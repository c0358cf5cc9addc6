import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, randomToken, sha256 } from './crypto';

describe('randomToken', () => {
  it('carries 32 bytes (256 bits) by default: 43 base64url characters that decode to 32 bytes', () => {
    const token = randomToken();
    expect(token).toHaveLength(43);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  });

  it('carries the requested number of bytes', () => {
    expect(Buffer.from(randomToken(16), 'base64url')).toHaveLength(16);
    expect(randomToken(16)).toHaveLength(22);
    expect(Buffer.from(randomToken(64), 'base64url')).toHaveLength(64);
  });

  it('uses only the URL-safe base64url alphabet, without padding', () => {
    for (let i = 0; i < 200; i++) expect(randomToken()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('hands out every pooled byte once, across refills of the pool', () => {
    // 16-byte tokens through several 8 KiB pools: no token, and no 16-byte block, repeats.
    const tokens = new Set(Array.from({ length: 3000 }, () => randomToken(16)));
    expect(tokens.size).toBe(3000);
    expect(Buffer.from(randomToken(10_000), 'base64url')).toHaveLength(10_000);
  });

  it('does not repeat itself', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => randomToken()));
    expect(tokens.size).toBe(1000);
  });

  it('spreads its bits: over many tokens every base64url character appears and the bit balance is near one half', () => {
    const sample = Array.from({ length: 2000 }, () => randomToken()).join('');
    expect(new Set(sample).size).toBe(64);
    const bytes = Buffer.concat(Array.from({ length: 500 }, () => Buffer.from(randomToken(), 'base64url')));
    let ones = 0;
    for (const byte of bytes) for (let bit = 0; bit < 8; bit++) ones += (byte >> bit) & 1;
    const ratio = ones / (bytes.length * 8);
    // 128,000 bits: the standard deviation of the ratio is about 0.0014.
    expect(ratio).toBeGreaterThan(0.49);
    expect(ratio).toBeLessThan(0.51);
  });
});

describe('sha256', () => {
  it('is the base64url SHA-256 of the UTF-8 string', () => {
    expect(sha256('')).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
    expect(sha256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    expect(sha256('é')).toBe(
      createHash('sha256')
        .update(Buffer.from([0xc3, 0xa9]))
        .digest('base64url'),
    );
  });

  it('is 43 characters with no padding', () => {
    expect(sha256(randomToken())).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('constantTimeEqual', () => {
  it('is true for equal strings, including empty ones', () => {
    expect(constantTimeEqual('secret', 'secret')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('é✓', 'é✓')).toBe(true);
  });

  it('is false for different strings of the same length', () => {
    expect(constantTimeEqual('secret', 'secreT')).toBe(false);
    expect(constantTimeEqual('aaaa', 'aaab')).toBe(false);
  });

  it('is false for strings of different lengths, without throwing', () => {
    expect(constantTimeEqual('secret', 'secret!')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
    expect(constantTimeEqual('secret', 'sec')).toBe(false);
  });

  it('compares UTF-8 bytes, not UTF-16 code units: é (2 bytes) differs from e', () => {
    expect(constantTimeEqual('é', 'e')).toBe(false);
    expect(constantTimeEqual('e\u0301', 'é')).toBe(false);
  });
});
