import { createPublicKey, KeyObject } from 'node:crypto';
import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CompactEncrypt } from 'jose';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { OAuthError } from '../common/oauth-error';
import { ChangeFeed } from '../database/change-feed';

interface EncryptionKey {
  key: KeyObject;
  alg: 'RSA-OAEP-256' | 'ECDH-ES';
  kid?: string;
}

export interface ResourceServerView {
  audience: string;
  encryption_jwk: Record<string, unknown>;
}

const invalid = (description: string) => new OAuthError('invalid_request', description);

/**
 * Resource servers that registered a public key to receive their access tokens
 * encrypted (JWE around the RFC 9068 JWS, RSA-OAEP-256 or ECDH-ES with A256GCM). The
 * keys are few: every instance keeps them all in memory, so issuing a token for an
 * audience without a key costs one map lookup.
 */
@Injectable()
export class ResourceServersService implements OnModuleInit, OnApplicationShutdown {
  private keys = new Map<string, EncryptionKey>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly changes: ChangeFeed,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.changes.subscribe('resources', () => void this.reload().catch(() => undefined));
    this.timer = setInterval(() => void this.reload().catch(() => undefined), this.config.syncIntervalMs * 6);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The access token as issued, or encrypted for its audience when that resource server registered a key. */
  async protect(audience: string | string[], jws: string): Promise<string> {
    const key = typeof audience === 'string' ? this.keys.get(audience) : undefined;
    if (!key) return jws;
    return new CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({ alg: key.alg, enc: 'A256GCM', cty: 'at+jwt', ...(key.kid ? { kid: key.kid } : {}) })
      .encrypt(key.key);
  }

  async register(input: unknown): Promise<ResourceServerView> {
    if (typeof input !== 'object' || input === null) throw invalid('expected {"audience": "...", "encryption_jwk": {...}}');
    const { audience, encryption_jwk: jwk } = input as { audience?: unknown; encryption_jwk?: unknown };
    if (typeof audience !== 'string' || !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(audience)) throw invalid('audience must be an absolute URI');
    if (typeof jwk !== 'object' || jwk === null) throw invalid('encryption_jwk must be a public JSON Web Key');
    if (['d', 'p', 'q', 'k'].some((member) => member in jwk)) throw invalid('encryption_jwk must be a public key');
    this.toKey(jwk as Record<string, unknown>);
    await this.db.query(
      `INSERT INTO resource_servers (audience, encryption_jwk) VALUES ($1, $2)
       ON CONFLICT (audience) DO UPDATE SET encryption_jwk = excluded.encryption_jwk`,
      [audience, JSON.stringify(jwk)],
    );
    await this.changes.publish('resources');
    await this.reload();
    return { audience, encryption_jwk: jwk as Record<string, unknown> };
  }

  async list(): Promise<ResourceServerView[]> {
    return (await this.db.query(`SELECT audience, encryption_jwk FROM resource_servers ORDER BY audience`)) as ResourceServerView[];
  }

  async remove(audience: string): Promise<void> {
    await this.db.query(`DELETE FROM resource_servers WHERE audience = $1`, [audience]);
    await this.changes.publish('resources');
    await this.reload();
  }

  private async reload(): Promise<void> {
    const keys = new Map<string, EncryptionKey>();
    for (const row of await this.list()) keys.set(row.audience, this.toKey(row.encryption_jwk));
    this.keys = keys;
  }

  private toKey(jwk: Record<string, unknown>): EncryptionKey {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      throw invalid('encryption_jwk is not a valid public key');
    }
    const type = key.asymmetricKeyType;
    if (type !== 'rsa' && type !== 'ec') throw invalid('encryption_jwk must be an RSA or EC key');
    return { key, alg: type === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES', kid: typeof jwk.kid === 'string' ? jwk.kid : undefined };
  }
}
