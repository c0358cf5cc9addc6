import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { MAX_CLIENT_ACCESS_TOKEN_TTL } from '../clients/client-metadata';
import { ClientsService } from '../clients/clients.service';
import { ChangeFeed } from '../database/change-feed';
import { AuditContext, AuditLog } from '../audit/audit-log';
import { DenyList } from './deny-list';
import { RefreshTokenStore } from './refresh-token.store';
import { RevocationKind } from './revocation.entity';

/** Revocations that answer an attack get an event of their own; the others are `grant.revoked` with the reason. */
const REUSE_EVENTS: Record<string, string> = {
  refresh_token_reuse: 'refresh_token.reuse_detected',
  authorization_code_reuse: 'authorization_code.reuse_detected',
};

/**
 * Ends access: marks grants revoked (their refresh tokens stop at once) and puts token,
 * grant or session ids on the deny list of every instance (their access tokens are
 * refused within the sync interval, usually at once).
 */
@Injectable()
export class RevocationService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly refreshTokens: RefreshTokenStore,
    private readonly denyList: DenyList,
    private readonly changes: ChangeFeed,
    private readonly config: AppConfig,
    private readonly audit: AuditLog,
    private readonly clients: ClientsService,
  ) {}

  /** A deleted client's grants end with it: their refresh tokens at once, their access tokens on every instance's deny list. */
  onModuleInit(): void {
    this.clients.onDeleted((clientId) => this.revokeGrantsOfClient(clientId));
  }

  /** Revokes a grant: its refresh tokens and every access token issued under it. */
  async revokeGrant(grantId: string, reason: string, context: Omit<AuditContext, 'details'> = {}): Promise<void> {
    const changed = await this.refreshTokens.revokeGrant(grantId, reason);
    await this.deny('grant', grantId, this.grantDeniedUntil());
    if (changed) void this.audit.record(REUSE_EVENTS[reason] ?? 'grant.revoked', { ...context, details: { grant_id: grantId, reason } });
  }

  /**
   * Revokes every live grant of a client with two statements however many it has (a busy
   * client's thousands of grants cost no round trip each); the other instances re-read the
   * deny list on one notification.
   */
  private async revokeGrantsOfClient(clientId: string): Promise<void> {
    const grantIds = await this.refreshTokens.revokeGrantsOfClient(clientId, 'client_deleted');
    if (grantIds.length === 0) return;
    const expiresAtMs = this.grantDeniedUntil();
    await this.db.query(
      `INSERT INTO revocations (kind, id, expires_at) SELECT 'grant', id, $2 FROM unnest($1::text[]) AS id
       ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, excluded.expires_at)`,
      [grantIds, new Date(expiresAtMs)],
    );
    for (const grantId of grantIds) {
      this.denyList.add('grant', grantId, expiresAtMs);
      void this.audit.record('grant.revoked', { clientId, details: { grant_id: grantId, reason: 'client_deleted' } });
    }
    // An empty payload: every instance polls the deny list for what is new.
    await this.changes.publish('revocations');
  }

  /**
   * Until when a revoked grant's id stays on the deny list: until the last access token the
   * grant can have issued expires (a client's own lifetime is capped, the configured default,
   * ACCESS_TOKEN_TTL, is not).
   */
  private grantDeniedUntil(): number {
    return Date.now() + (Math.max(MAX_CLIENT_ACCESS_TOKEN_TTL, this.config.accessTokenTtl) + this.config.clockSkew) * 1000;
  }

  /** Denies one access token until it expires. */
  async revokeAccessToken(jti: string, expiresAtSeconds: number, context: Omit<AuditContext, 'details'> = {}): Promise<void> {
    await this.deny('token', jti, (expiresAtSeconds + this.config.clockSkew) * 1000);
    void this.audit.record('access_token.revoked', { ...context, details: { jti } });
  }

  private async deny(kind: RevocationKind, id: string, expiresAtMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO revocations (kind, id, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, excluded.expires_at)`,
      [kind, id, new Date(expiresAtMs)],
    );
    this.denyList.add(kind, id, expiresAtMs);
    await this.changes.publish('revocations', `${kind}:${expiresAtMs}:${id}`);
  }
}
