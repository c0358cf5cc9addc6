import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyEncryptionKeyId, SecretBox, UnknownKeyEncryptionKeyError } from './secret-box';

const box = new SecretBox(randomBytes(32));

/** Replaces one dot-separated part of a sealed value. */
function withPart(sealed: string, index: number, change: (part: string) => string): string {
  const parts = sealed.split('.');
  parts[index] = change(parts[index]);
  return parts.join('.');
}

const flipFirstByte = (part: string): string => {
  const bytes = Buffer.from(part, 'base64url');
  bytes[0] ^= 0x01;
  return bytes.toString('base64url');
};

describe('SecretBox', () => {
  it('opens what it sealed, for the same context', () => {
    const plaintext = '{"kty":"EC","d":"secret"} é ✓';
    expect(box.open(box.seal(plaintext, 'signing-key:k1'), 'signing-key:k1')).toBe(plaintext);
    expect(box.open(box.seal('', 'ctx'), 'ctx')).toBe('');
  });

  it('never seals the same plaintext to the same value (fresh IV each time)', () => {
    expect(box.seal('same', 'ctx')).not.toBe(box.seal('same', 'ctx'));
  });

  it('does not carry the plaintext in the sealed value', () => {
    const sealed = box.seal('hunter2-hunter2', 'ctx');
    expect(sealed).not.toContain('hunter2');
    expect(Buffer.from(sealed.split('.')[4], 'base64url').toString('utf8')).not.toContain('hunter2');
  });

  it('names its version and key id in the sealed value', () => {
    const [version, keyId] = box.seal('x', 'ctx').split('.');
    expect(version).toBe('v1');
    expect(keyId).toBe(box.keyId);
    expect(box.keyId).toMatch(/^[A-Za-z0-9_-]{8}$/);
  });

  it('refuses to open a value sealed for another context (moved to another row)', () => {
    const sealed = box.seal('secret', 'signing-key:k1');
    expect(() => box.open(sealed, 'signing-key:k2')).toThrow();
  });

  it('refuses a value sealed with another key, naming both key ids', () => {
    const other = new SecretBox(randomBytes(32));
    const sealed = other.seal('secret', 'ctx');
    expect(() => box.open(sealed, 'ctx')).toThrow(other.keyId);
    expect(() => box.open(sealed, 'ctx')).toThrow(box.keyId);
  });

  it('derives the same key id from the same key and different ids from different keys', () => {
    const key = randomBytes(32);
    expect(new SecretBox(key).keyId).toBe(new SecretBox(Buffer.from(key)).keyId);
    expect(new SecretBox(randomBytes(32)).keyId).not.toBe(new SecretBox(randomBytes(32)).keyId);
  });

  it('refuses a value whose ciphertext was changed', () => {
    const sealed = box.seal('a secret worth protecting', 'ctx');
    expect(() => box.open(withPart(sealed, 4, flipFirstByte), 'ctx')).toThrow();
  });

  it('refuses a value whose IV was changed', () => {
    const sealed = box.seal('a secret worth protecting', 'ctx');
    expect(() => box.open(withPart(sealed, 2, flipFirstByte), 'ctx')).toThrow();
  });

  it('refuses a value whose authentication tag was changed', () => {
    const sealed = box.seal('a secret worth protecting', 'ctx');
    expect(() => box.open(withPart(sealed, 3, flipFirstByte), 'ctx')).toThrow();
  });

  it('refuses a value whose authentication tag was truncated (no short GCM tags)', () => {
    const sealed = box.seal('a secret worth protecting', 'ctx');
    for (const bytes of [4, 8, 12, 15]) {
      const truncated = withPart(sealed, 3, (tag) => Buffer.from(tag, 'base64url').subarray(0, bytes).toString('base64url'));
      expect(() => box.open(truncated, 'ctx')).toThrow();
    }
  });

  it('refuses malformed values: missing parts, unknown version', () => {
    const sealed = box.seal('secret', 'ctx');
    expect(() => box.open('', 'ctx')).toThrow('malformed');
    expect(() => box.open(sealed.split('.').slice(0, 4).join('.'), 'ctx')).toThrow('malformed');
    expect(() =>
      box.open(
        withPart(sealed, 0, () => 'v2'),
        'ctx',
      ),
    ).toThrow('malformed');
  });

  it('requires a key of exactly 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('32 bytes');
    expect(() => new SecretBox(randomBytes(31))).toThrow('32 bytes');
    expect(() => new SecretBox(randomBytes(33))).toThrow('32 bytes');
    expect(() => new SecretBox(Buffer.alloc(0))).toThrow('32 bytes');
  });

  it('requires every previous key to be 32 bytes too', () => {
    expect(() => new SecretBox(randomBytes(32), [randomBytes(32), randomBytes(16)])).toThrow('32 bytes');
  });
});

describe('SecretBox as a keyring (key-encryption-key rotation)', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = new SecretBox(oldKey);
  const during = new SecretBox(newKey, [oldKey]);
  const after = new SecretBox(newKey);

  it('seals with the current key only, and names it', () => {
    expect(during.keyId).toBe(keyEncryptionKeyId(newKey));
    expect(SecretBox.keyIdOf(during.seal('x', 'ctx'))).toBe(after.keyId);
    expect(after.open(during.seal('x', 'ctx'), 'ctx')).toBe('x');
  });

  it('opens values sealed with a previous key, and values sealed with the current one', () => {
    const sealedBefore = before.seal('old secret', 'client-secret:c1');
    expect(during.open(sealedBefore, 'client-secret:c1')).toBe('old secret');
    expect(during.open(during.seal('new secret', 'ctx'), 'ctx')).toBe('new secret');
  });

  it('lists the ids of every key that opens, the current one first', () => {
    expect(during.keyIds).toEqual([keyEncryptionKeyId(newKey), keyEncryptionKeyId(oldKey)]);
    expect(during.has(keyEncryptionKeyId(oldKey))).toBe(true);
    expect(after.has(keyEncryptionKeyId(oldKey))).toBe(false);
  });

  it('counts the current key once when it is also given as a previous key', () => {
    expect(new SecretBox(newKey, [newKey, oldKey]).keyIds).toEqual(during.keyIds);
  });

  it('re-seals a value under the current key, same plaintext and context, readable without the previous key', () => {
    const sealedBefore = before.seal('signing key jwk', 'signing-key:k1');
    const resealed = during.reseal(sealedBefore, 'signing-key:k1');
    expect(SecretBox.keyIdOf(resealed)).toBe(after.keyId);
    expect(after.open(resealed, 'signing-key:k1')).toBe('signing key jwk');
    expect(() => before.open(resealed, 'signing-key:k1')).toThrow(UnknownKeyEncryptionKeyError);
  });

  it('re-sealing keeps the context binding: a value re-sealed for another row does not open', () => {
    const sealedBefore = before.seal('secret', 'client-secret:a');
    expect(() => during.reseal(sealedBefore, 'client-secret:b')).toThrow();
  });

  it('tells whether a value is under the current key', () => {
    expect(during.isCurrent(during.seal('x', 'ctx'))).toBe(true);
    expect(during.isCurrent(before.seal('x', 'ctx'))).toBe(false);
    expect(during.isCurrent('not sealed')).toBe(false);
  });

  it('reads the key id of a sealed value without opening it, and none from a malformed one', () => {
    expect(SecretBox.keyIdOf(before.seal('x', 'ctx'))).toBe(before.keyId);
    expect(SecretBox.keyIdOf('')).toBeUndefined();
    expect(SecretBox.keyIdOf('v2.abcdefgh.x.y.z')).toBeUndefined();
  });

  it('refuses a value sealed with a key it does not have, with an error naming that key id and what to configure', () => {
    const sealed = during.seal('x', 'ctx');
    let error: unknown;
    try {
      before.open(sealed, 'ctx');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnknownKeyEncryptionKeyError);
    expect((error as UnknownKeyEncryptionKeyError).keyId).toBe(during.keyId);
    expect((error as Error).message).toContain(during.keyId);
    expect((error as Error).message).toContain('KEY_ENCRYPTION_KEYS_PREVIOUS');
    expect((error as Error).stack).toBe((error as Error).message);
    expect((error as Error).message.split('\n')).toHaveLength(1);
  });

  it('never puts key material in its errors or key ids', () => {
    const sealed = during.seal('x', 'ctx');
    const message = (() => {
      try {
        before.open(sealed, 'ctx');
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    for (const key of [oldKey, newKey]) {
      expect(message).not.toContain(key.toString('hex'));
      expect(message).not.toContain(key.toString('base64url'));
    }
  });
});
