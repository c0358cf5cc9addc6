import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';

export interface SessionGrant {
  id: string;
  clientId: string;
  scopes: string[];
  revoked: boolean;
}

export interface SessionView {
  id: string;
  created_at: string;
  last_seen_at: string;
  current: boolean;
}

export interface GrantView {
  id: string;
  client_id: string;
  scope: string;
  created_at: string;
}

/** The queries logout and the account pages need about sessions and the grants made in them. */
@Injectable()
export class SessionGrantsStore {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Every grant made in a session (grants.session_id), revoked or not. */
  async grantsOfSession(sessionId: string): Promise<SessionGrant[]> {
    const rows: { id: string; client_id: string; scopes: string[]; revoked_at: Date | null }[] = await this.db.query(
      `SELECT id, client_id, scopes, revoked_at FROM grants WHERE session_id = $1 ORDER BY created_at`,
      [sessionId],
    );
    return rows.map((row) => ({ id: row.id, clientId: row.client_id, scopes: row.scopes, revoked: row.revoked_at !== null }));
  }

  /** A user's live sessions (not ended, not expired, not idle past SESSION_IDLE_TTL), newest first. */
  async liveSessions(userId: string): Promise<{ id: string; createdAt: Date; lastSeenAt: Date }[]> {
    const rows: { id: string; created_at: Date; last_seen_at: Date }[] = await this.db.query(
      `SELECT id, created_at, last_seen_at FROM sessions
       WHERE user_id = $1 AND ended_at IS NULL AND expires_at > now() AND last_seen_at > now() - $2::integer * interval '1 second'
       ORDER BY created_at DESC`,
      [userId, this.config.sessionIdleTtl],
    );
    return rows.map((row) => ({ id: row.id, createdAt: row.created_at, lastSeenAt: row.last_seen_at }));
  }

  /** The user's grants that still work. */
  async activeGrants(userId: string): Promise<GrantView[]> {
    const rows: { id: string; client_id: string; scopes: string[]; created_at: Date }[] = await this.db.query(
      `SELECT id, client_id, scopes, created_at FROM grants WHERE subject = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC`,
      [userId],
    );
    return rows.map((row) => ({ id: row.id, client_id: row.client_id, scope: row.scopes.join(' '), created_at: row.created_at.toISOString() }));
  }

  async activeGrant(userId: string, grantId: string): Promise<{ id: string; clientId: string } | undefined> {
    const rows: { id: string; client_id: string }[] = await this.db.query(
      `SELECT id, client_id FROM grants WHERE id = $1 AND subject = $2 AND revoked_at IS NULL AND expires_at > now()`,
      [grantId, userId],
    );
    return rows[0] ? { id: rows[0].id, clientId: rows[0].client_id } : undefined;
  }
}
