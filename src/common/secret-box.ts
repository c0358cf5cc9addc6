import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/** The short fingerprint that names a key-encryption key in sealed values (not reversible). */
export function keyEncryptionKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

/**
 * A sealed value names a key-encryption key this process was not given. The message is
 * meant for the operator and says everything, so the stack is left out: start-up
 * failures print the stack of what stopped them, and a trace would only bury the line.
 */
export class UnknownKeyEncryptionKeyError extends Error {
  constructor(
    readonly keyId: string,
    configured: readonly string[],
    /** What is sealed, with its verb: "a value is", "3 client secrets are". */
    what = 'a value is',
  ) {
    super(
      `${what} sealed with key-encryption key ${keyId}, which is not configured (configured: ${configured.join(', ')}); ` +
        `set it as KEY_ENCRYPTION_KEY or add it to KEY_ENCRYPTION_KEYS_PREVIOUS`,
    );
    this.name = 'UnknownKeyEncryptionKeyError';
    this.stack = this.message;
  }
}

/**
 * AES-256-GCM envelope for secrets that must be recovered later (signing keys' private
 * parts, client secrets), as a keyring: it seals with the current key-encryption key
 * and opens with whichever configured key the value names (a short fingerprint in the
 * value), so that values sealed before a key rotation stay readable until re-sealed.
 * `context` is bound as additional data so that a sealed value cannot be moved to
 * another row.
 */
export class SecretBox {
  /** Id of the current key, the one that seals. */
  readonly keyId: string;
  private readonly keys = new Map<string, Buffer>();

  /** `current` seals and opens; `previous` keys only open. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
    }
    this.keyId = keyEncryptionKeyId(current);
    for (const key of [current, ...previous]) this.keys.set(keyEncryptionKeyId(key), key);
  }

  /** Ids of every key that opens, the current one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** The id of the key a sealed value names, or undefined when the value is malformed. */
  static keyIdOf(sealed: string): string | undefined {
    const [version, keyId] = sealed.split('.');
    return version === VERSION && keyId ? keyId : undefined;
  }

  /** Whether this keyring holds the key with this id. */
  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Whether a sealed value is under the current key (re-sealing would change nothing). */
  isCurrent(sealed: string): boolean {
    return SecretBox.keyIdOf(sealed) === this.keyId;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.keyId)!, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.keyId, iv.toString('base64url'), tag.toString('base64url'), body.toString('base64url')].join('.');
  }

  /** Opens a value sealed with any key of the ring; UnknownKeyEncryptionKeyError when it names another. */
  open(sealed: string, context: string): string {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || !keyId || !iv || !tag || body === undefined) throw new Error('malformed sealed value');
    const key = this.keys.get(keyId);
    if (!key) throw new UnknownKeyEncryptionKeyError(keyId, this.keyIds);
    // The full 16-byte tag: without authTagLength, GCM would accept a tag truncated to 4 bytes.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** The same plaintext sealed again under the current key (opened with the key the value names). */
  reseal(sealed: string, context: string): string {
    return this.seal(this.open(sealed, context), context);
  }
}
