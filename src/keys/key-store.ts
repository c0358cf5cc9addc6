import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { KeyLifecycleAudit } from '../audit/key-lifecycle-audit';
import { AppConfig } from '../config/configuration';
import { CoalescedRefresh } from '../common/coalesced-refresh';
import { AsymmetricAlgorithm, ASYMMETRIC_ALGORITHMS, encodeJwtSegment, JwtPayload, signJwtWithHeaderSegment } from '../common/jwt';
import { SecretBox, UnknownKeyEncryptionKeyError } from '../common/secret-box';
import { ChangeFeed } from '../database/change-feed';
import { sealingContext } from '../secrets/sealed-columns';
import { SigningKey } from './signing-key.entity';

/** A key as kept in memory: parsed once into KeyObjects. */
export interface LoadedKey {
  kid: string;
  alg: AsymmetricAlgorithm;
  publicKey: KeyObject;
  publicJwk: Record<string, unknown>;
  activatesAt: number;
  unpublishAt: number | null;
}

interface LoadedSigningKey extends LoadedKey {
  /** Undefined when the key is sealed with a key-encryption key this instance lacks: it then only verifies. */
  privateKey: KeyObject | undefined;
  /** Encoded JWS headers of this key's tokens, by `typ` ('' for none): encoded once, not per token. */
  headerSegments: Map<string, string>;
}

type UsableSigningKey = LoadedSigningKey & { privateKey: KeyObject };

/** Advisory-lock id that serialises key creation and rotation across instances. */
const KEY_LOCK_ID = 7_231_001;
/** How long a retired key stays published: the longest token lifetime any client may have, plus the ID-token default. */
const MIN_RETENTION_SECONDS = 86_400;
/** Unknown kids re-read the key table at most this often, however many arrive. */
const UNKNOWN_KID_RELOAD_MS = 1_000;
/** Gatehouse names its keys with UUIDs: any other kid cannot be one of them and costs no read. */
const KID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function generateKeyPair(alg: AsymmetricAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
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

/**
 * Signing keys: created on first start, kept in PostgreSQL with private parts sealed,
 * cached per instance as KeyObjects. Which key signs is a pure function of the rows
 * and the clock (the newest key of an algorithm whose `activates_at` has passed), so
 * every instance agrees without talking to the others; each re-reads the rows on a
 * notification, on a timer, and when it meets an unknown kid.
 */
@Injectable()
export class KeyStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KeyStore.name);
  private keys: LoadedSigningKey[] = [];
  private byKid = new Map<string, LoadedSigningKey>();
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private loaded = false;
  /** Re-reads for unknown kids: one that starts after the kid was met, shared, at most one a second. */
  private readonly unknownKidReload = new CoalescedRefresh(async () => {
    await this.reloading?.catch(() => undefined);
    await this.reload();
  }, UNKNOWN_KID_RELOAD_MS);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly changes: ChangeFeed,
    private readonly secretBox: SecretBox,
    private readonly keyAudit: KeyLifecycleAudit,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.ensureKeys();
    await this.reload();
    this.changes.subscribe('keys', () => void this.reload().catch(() => undefined));
    this.timer = setInterval(() => void this.reload().catch(() => undefined), this.config.syncIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Signs a JWT with the active key of `alg`; the header gets `alg` and `kid`. */
  sign(alg: AsymmetricAlgorithm, payload: JwtPayload, typ?: string): { token: string; kid: string } {
    const key = this.activeKey(alg);
    let header = key.headerSegments.get(typ ?? '');
    if (header === undefined) {
      header = encodeJwtSegment(typ ? { alg, typ, kid: key.kid } : { alg, kid: key.kid });
      key.headerSegments.set(typ ?? '', header);
    }
    return { token: signJwtWithHeaderSegment(header, payload, alg, key.privateKey), kid: key.kid };
  }

  /**
   * The key that signs `alg` now: the newest one already active whose private part this
   * instance can open. (Mid-rotation of the key-encryption key, a newer key another instance
   * created may only verify here; the older key that signs instead stays published for a
   * day or more after its successor activates.)
   */
  activeKey(alg: AsymmetricAlgorithm): UsableSigningKey {
    const now = Date.now();
    let active: UsableSigningKey | undefined;
    for (const key of this.keys) {
      if (key.alg === alg && key.privateKey && key.activatesAt <= now && (!active || key.activatesAt > active.activatesAt)) active = key as UsableSigningKey;
    }
    if (!active) throw new Error(`no active ${alg} signing key`);
    return active;
  }

  /** The public key for a kid, or undefined (and a throttled re-read of the key table in the background). */
  verificationKey(kid: string): LoadedKey | undefined {
    const key = this.byKid.get(kid);
    if (key || !KID_SHAPE.test(kid)) return key;
    this.unknownKidReload.request().catch(() => undefined);
    return undefined;
  }

  /**
   * The public key for a kid; an unknown one waits for a re-read of the key table that
   * started after it was met, so that a key another instance created moments ago (its
   * notification not here yet) is found. Every caller waiting at once shares that read, and
   * reads happen at most once a second: random kids cannot turn into database load.
   */
  async findVerificationKey(kid: string): Promise<LoadedKey | undefined> {
    const key = this.byKid.get(kid);
    if (key || !KID_SHAPE.test(kid)) return key;
    await this.unknownKidReload.request().catch(() => undefined);
    return this.byKid.get(kid);
  }

  /** Public keys still published: every key until its `unpublish_at`. */
  publishedKeys(): LoadedKey[] {
    const now = Date.now();
    return this.keys.filter((key) => key.unpublishAt === null || key.unpublishAt > now);
  }

  /** RFC 7517 key set for /.well-known/jwks.json: public members only. */
  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: this.publishedKeys().map((key) => key.publicJwk) };
  }

  /**
   * Starts a rollover: a new key per algorithm, published now and signing after
   * KEY_PUBLISH_DELAY; the keys it replaces stay published until every token they
   * can have signed has expired.
   */
  async rotate(): Promise<SigningKey[]> {
    const created = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK_ID]);
      const activatesAt = new Date(Date.now() + this.config.keyPublishDelay * 1000);
      const retention = Math.max(this.config.accessTokenTtl, MIN_RETENTION_SECONDS) + this.config.clockSkew;
      await manager
        .createQueryBuilder()
        .update(SigningKey)
        .set({ unpublishAt: new Date(activatesAt.getTime() + retention * 1000) })
        .where('unpublish_at IS NULL')
        .execute();
      return this.createKeys(manager, [...ASYMMETRIC_ALGORITHMS], activatesAt);
    });
    await this.changes.publish('keys');
    await this.reload();
    this.logger.log(`rotated signing keys: ${created.map((key) => `${key.alg}=${key.kid}`).join(', ')}`);
    return created;
  }

  /** Re-reads the key table; overlapping calls share one read. */
  reload(): Promise<void> {
    this.reloading ??= this.readKeys().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async readKeys(): Promise<void> {
    const rows = await this.dataSource
      .getRepository(SigningKey)
      .createQueryBuilder('k')
      .where('k.unpublish_at IS NULL OR k.unpublish_at > now()')
      .orderBy('k.activates_at', 'ASC')
      .getMany();
    const loaded: LoadedSigningKey[] = [];
    for (const row of rows) {
      const known = this.byKid.get(row.kid);
      if (known) {
        known.unpublishAt = row.unpublishAt?.getTime() ?? null;
        loaded.push(known);
        continue;
      }
      if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(row.alg)) continue;
      loaded.push({
        kid: row.kid,
        alg: row.alg as AsymmetricAlgorithm,
        privateKey: this.openPrivateKey(row),
        publicKey: createPublicKey({ key: row.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }),
        publicJwk: row.publicJwk,
        activatesAt: row.activatesAt.getTime(),
        unpublishAt: row.unpublishAt?.getTime() ?? null,
        headerSegments: new Map(),
      });
    }
    this.keys = loaded;
    this.byKid = new Map(loaded.map((key) => [key.kid, key]));
    this.keyAudit.observe(loaded);
    this.loaded = true;
  }

  /**
   * The private part of a key row. A key sealed with a key-encryption key this instance
   * lacks stops the start-up (one line naming that key); met later, when another instance
   * with a newer key-encryption key created it, the key is kept for verification only.
   */
  private openPrivateKey(row: SigningKey): KeyObject | undefined {
    try {
      const jwk = JSON.parse(this.secretBox.open(row.privateKeySealed, sealingContext.signingKey(row.kid))) as import('node:crypto').JsonWebKey;
      return createPrivateKey({ key: jwk, format: 'jwk' });
    } catch (error) {
      if (!(error instanceof UnknownKeyEncryptionKeyError)) throw error;
      if (!this.loaded) throw new UnknownKeyEncryptionKeyError(error.keyId, this.secretBox.keyIds, `signing key ${row.kid} is`);
      this.logger.warn(
        `signing key ${row.kid} (${row.alg}) is sealed with key-encryption key ${error.keyId}, which this instance does not have: ` +
          `it verifies tokens signed with it but does not sign with it; give every instance the same key-encryption keys`,
      );
      return undefined;
    }
  }

  /** Creates the first key of every algorithm that has none, once across all instances. */
  private async ensureKeys(): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK_ID]);
      const rows: { alg: string }[] = await manager.query('SELECT DISTINCT alg FROM signing_keys');
      const present = new Set(rows.map((row) => row.alg));
      const missing = ASYMMETRIC_ALGORITHMS.filter((alg) => !present.has(alg));
      if (missing.length > 0) {
        const created = await this.createKeys(manager, missing, new Date());
        this.keyAudit.created(created);
        this.logger.log(`generated signing keys: ${created.map((key) => `${key.alg}=${key.kid}`).join(', ')}`);
      }
    });
  }

  private async createKeys(manager: EntityManager, algs: AsymmetricAlgorithm[], activatesAt: Date): Promise<SigningKey[]> {
    const created: SigningKey[] = [];
    for (const alg of algs) {
      const { privateKey, publicKey } = generateKeyPair(alg);
      const kid = randomUUID();
      const key = manager.create(SigningKey, {
        kid,
        alg,
        publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
        privateKeySealed: this.secretBox.seal(JSON.stringify(privateKey.export({ format: 'jwk' })), sealingContext.signingKey(kid)),
        activatesAt,
        unpublishAt: null,
      });
      await manager.save(SigningKey, key);
      created.push(key);
    }
    return created;
  }
}
