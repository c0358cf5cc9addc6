import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { keyEncryptionKeyId, SecretBox } from '../common/secret-box';
import { AppConfig } from '../config/configuration';
import { sealingContext } from './sealed-columns';

const DERIVATION_KEY = 'derivation-key';

/** PostgreSQL's undefined_table: migrations not applied yet (MIGRATIONS_RUN=false before `migrate`). */
export const isUndefinedTable = (error: unknown): boolean =>
  ((error as { driverError?: { code?: string } })?.driverError?.code ?? (error as { code?: string })?.code) === '42P01';

/**
 * Secrets of the server itself, kept sealed in the server_secrets table and shared by
 * every instance. The derivation key behind pairwise subject identifiers and the browser
 * state lives here, not in the configuration: those values must stay the same when the
 * key-encryption key is rotated, or every relying party would see its users change.
 */
@Injectable()
export class ServerSecrets {
  private derivation: Buffer | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly box: SecretBox,
    private readonly config: AppConfig,
  ) {}

  /** Reads (or, the first time, creates) the secrets; at start-up, after the check that every sealed value opens. */
  async load(): Promise<void> {
    try {
      this.derivation = Buffer.from(await this.secret(DERIVATION_KEY, () => this.initialDerivationKey()), 'hex');
    } catch (error) {
      // Before `migrate` (MIGRATIONS_RUN=false) the CLI must still start to run it.
      if (!isUndefinedTable(error)) throw error;
    }
  }

  /** 32 bytes for HMAC derivations that must outlive key-encryption-key rotations. */
  derivationKey(): Buffer {
    if (!this.derivation) throw new Error('server secrets are not loaded: apply the database migrations first');
    return this.derivation;
  }

  /** The secret `name`, created from `initial()` by the first instance that needs it. */
  private async secret(name: string, initial: () => Promise<Buffer>): Promise<string> {
    const read = async (): Promise<string | undefined> => {
      const rows: { value_sealed: string }[] = await this.db.query('SELECT value_sealed FROM server_secrets WHERE name = $1', [name]);
      return rows[0]?.value_sealed;
    };
    let sealed = await read();
    if (sealed === undefined) {
      const value = this.box.seal((await initial()).toString('hex'), sealingContext.serverSecret(name));
      await this.db.query('INSERT INTO server_secrets (name, value_sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, value]);
      sealed = (await read())!;
    }
    return this.box.open(sealed, sealingContext.serverSecret(name));
  }

  /**
   * Before this table existed, the derivations were keyed by the key-encryption key
   * itself. To keep every pairwise subject and browser state, the derivation key starts
   * as the key-encryption key in use then: the one that sealed the first signing keys.
   * A database without signing keys gets a random one.
   */
  private async initialDerivationKey(): Promise<Buffer> {
    const rows: { private_key_sealed: string }[] = await this.db.query('SELECT private_key_sealed FROM signing_keys ORDER BY created_at LIMIT 1');
    if (rows.length === 0) return randomBytes(32);
    const keyId = SecretBox.keyIdOf(rows[0].private_key_sealed);
    const keys = [this.config.keyEncryptionKey, ...this.config.previousKeyEncryptionKeys];
    return keys.find((key) => keyEncryptionKeyId(key) === keyId) ?? this.config.keyEncryptionKey;
  }
}
