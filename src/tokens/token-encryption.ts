import { createHash, createPublicKey, KeyObject } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { CompactEncrypt } from 'jose';
import { Client } from '../clients/client.entity';
import { ClientsService } from '../clients/clients.service';
import { SECRET_BASED_ALGORITHMS } from '../common/jwe-algorithms';

const CONTENT_KEY_BYTES: Record<string, number> = { 'A128CBC-HS256': 32, 'A256CBC-HS512': 64, A128GCM: 16, A256GCM: 32 };
const JWKS_CACHE_MS = 5 * 60_000;

/**
 * Nested signed-then-encrypted JWTs for clients that register
 * `id_token_encrypted_response_alg` / `userinfo_encrypted_response_alg`: asymmetric
 * algorithms with the client's `jwks` (or `jwks_uri`), symmetric ones with a key derived
 * from its secret (SHA-256 of the secret, left-most bits, Core §10.2).
 */
@Injectable()
export class TokenEncryption {
  private readonly logger = new Logger(TokenEncryption.name);
  private readonly remoteKeys = new Map<string, { keys: Record<string, unknown>[]; until: number }>();

  constructor(private readonly clients: ClientsService) {}

  /** Whether the client registered encryption for `purpose`. */
  wantsEncryption(client: Client, purpose: 'id_token' | 'userinfo'): boolean {
    return typeof client.metadata[`${purpose}_encrypted_response_alg`] === 'string';
  }

  /**
   * The payload as is, or encrypted for the client when it registered encryption for
   * `purpose`: a signed JWT nested (cty JWT), or plain JSON claims (UserInfo that is
   * encrypted but not signed, Core §5.3.2).
   */
  async protect(client: Client, payload: string, purpose: 'id_token' | 'userinfo', nested = true): Promise<string> {
    const alg = client.metadata[`${purpose}_encrypted_response_alg`];
    if (typeof alg !== 'string') return payload;
    const registeredEnc = client.metadata[`${purpose}_encrypted_response_enc`];
    const enc = typeof registeredEnc === 'string' ? registeredEnc : 'A128CBC-HS256';
    const key = SECRET_BASED_ALGORITHMS.has(alg) ? this.secretKey(client, alg, enc) : await this.clientKey(client, alg);
    return new CompactEncrypt(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg, enc, ...(nested ? { cty: 'JWT' } : {}), ...(key.kid ? { kid: key.kid } : {}) })
      .encrypt(key.key);
  }

  private secretKey(client: Client, alg: string, enc: string): { key: Uint8Array; kid?: string } {
    const secret = this.clients.revealSecret(client);
    if (!secret) throw new Error(`client ${client.clientId} has no secret for ${alg}`);
    const length = alg === 'dir' ? CONTENT_KEY_BYTES[enc] : alg === 'A128KW' ? 16 : 32;
    const digest = createHash(length > 32 ? 'sha512' : 'sha256')
      .update(secret, 'utf8')
      .digest();
    return { key: new Uint8Array(digest.subarray(0, length)) };
  }

  private async clientKey(client: Client, alg: string): Promise<{ key: KeyObject; kid?: string }> {
    const keys = await this.clientJwks(client);
    const kty = alg.startsWith('RSA') ? 'RSA' : 'EC';
    const jwk = keys.find((key) => key.kty === kty && (key.use === undefined || key.use === 'enc') && (key.alg === undefined || key.alg === alg));
    if (!jwk) throw new Error(`client ${client.clientId} has no ${kty} encryption key for ${alg}`);
    return { key: createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }), kid: typeof jwk.kid === 'string' ? jwk.kid : undefined };
  }

  private async clientJwks(client: Client): Promise<Record<string, unknown>[]> {
    const inline = client.metadata.jwks as { keys?: Record<string, unknown>[] } | undefined;
    if (inline?.keys) return inline.keys;
    const uri = client.metadata.jwks_uri;
    if (typeof uri !== 'string') return [];
    const cached = this.remoteKeys.get(uri);
    if (cached && cached.until > Date.now()) return cached.keys;
    const response = await fetch(uri, { signal: AbortSignal.timeout(5000), redirect: 'error' });
    if (!response.ok) {
      this.logger.warn(`jwks_uri of client ${client.clientId} answered ${response.status}`);
      return [];
    }
    const body = (await response.json()) as { keys?: Record<string, unknown>[] };
    const keys = Array.isArray(body.keys) ? body.keys : [];
    this.remoteKeys.set(uri, { keys, until: Date.now() + JWKS_CACHE_MS });
    return keys;
  }
}
