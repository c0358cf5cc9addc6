import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { ChangeFeed } from '../database/change-feed';
import { RevocationKind } from './revocation.entity';

/** The claims of an access token that a revocation can target. */
export interface RevocableClaims {
  jti?: unknown;
  grant_id?: unknown;
  sid?: unknown;
}

interface RevocationRow {
  kind: RevocationKind;
  id: string;
  expires_at: Date;
  seq: string;
}

/**
 * The in-memory deny list every instance checks on every request: revoked token ids,
 * grant ids and session ids, each until the last token it can affect has expired.
 * Kept current across instances by a notification per revocation and, as a safety net,
 * by polling the revocations table for rows past the last sequence number seen.
 */
@Injectable()
export class DenyList implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DenyList.name);
  private readonly entries: Record<RevocationKind, Map<string, number>> = {
    token: new Map(),
    grant: new Map(),
    session: new Map(),
  };
  private lastSeq = '0';
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly changes: ChangeFeed,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.poll();
    this.changes.subscribe('revocations', (payload) => {
      const [kind, expires, ...id] = payload.split(':');
      if (kind in this.entries && id.length) this.add(kind as RevocationKind, id.join(':'), Number(expires));
      else void this.poll().catch(() => undefined);
    });
    this.timer = setInterval(() => {
      this.purgeExpired();
      void this.poll().catch((error: Error) => this.logger.warn(`revocation poll failed: ${error.message}`));
    }, this.config.syncIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  add(kind: RevocationKind, id: string, expiresAtMs: number): void {
    this.entries[kind].set(id, expiresAtMs);
  }

  isRevoked(claims: RevocableClaims): boolean {
    return (
      (typeof claims.jti === 'string' && this.entries.token.has(claims.jti)) ||
      (typeof claims.grant_id === 'string' && this.entries.grant.has(claims.grant_id)) ||
      (typeof claims.sid === 'string' && this.entries.session.has(claims.sid))
    );
  }

  /** Reads revocations this instance has not seen yet. */
  poll(): Promise<void> {
    this.polling ??= this.readNew().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async readNew(): Promise<void> {
    const rows: RevocationRow[] = await this.db.query(
      `SELECT kind, id, expires_at, seq FROM revocations WHERE seq > $1 AND expires_at > now() ORDER BY seq LIMIT 10000`,
      [this.lastSeq],
    );
    for (const row of rows) {
      this.add(row.kind, row.id, row.expires_at.getTime());
      this.lastSeq = row.seq;
    }
    if (rows.length === 10000) await this.readNew();
  }

  private purgeExpired(): void {
    const now = Date.now();
    for (const map of Object.values(this.entries)) {
      for (const [id, expiresAt] of map) if (expiresAt <= now) map.delete(id);
    }
  }
}
