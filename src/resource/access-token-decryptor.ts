import { createPrivateKey, KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { compactDecrypt } from 'jose';
import { AppConfig } from '../config/configuration';

const CACHE_MAX = 50_000;

/**
 * The sample API's side of encrypted access tokens: with SAMPLE_API_DECRYPTION_KEY set
 * (its private key; the public half is registered with `resources register`), a JWE access
 * token is decrypted to the signed token inside, once per token (then remembered).
 */
@Injectable()
export class AccessTokenDecryptor {
  private readonly key: KeyObject | undefined;
  private readonly unwrapped = new Map<string, string>();

  constructor(config: AppConfig) {
    this.key = config.sampleApiDecryptionKey ? createPrivateKey(config.sampleApiDecryptionKey) : undefined;
  }

  static isEncrypted(token: string): boolean {
    return token.split('.').length === 5;
  }

  /** The signed access token inside a JWE, or undefined when it cannot be decrypted here. */
  async unwrap(token: string): Promise<string | undefined> {
    const known = this.unwrapped.get(token);
    if (known) return known;
    if (!this.key) return undefined;
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(token, this.key, {
        keyManagementAlgorithms: ['RSA-OAEP-256', 'ECDH-ES'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      if (protectedHeader.cty !== 'at+jwt') return undefined;
      const inner = new TextDecoder().decode(plaintext);
      if (this.unwrapped.size >= CACHE_MAX) this.unwrapped.delete(this.unwrapped.keys().next().value as string);
      this.unwrapped.set(token, inner);
      return inner;
    } catch {
      return undefined;
    }
  }
}
