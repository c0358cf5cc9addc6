import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { affectedRows } from '../database/affected-rows';

/** A grant as the token service needs it. */
export interface GrantRecord {
  id: string;
  clientId: string;
  subject: string;
  scopes: string[];
  sessionId: string | null;
  authTime: Date | null;
  revokedAt: Date | null;
}

export interface NewGrant {
  /** A grant id chosen in advance (an authorization code names its grant when issued). */
  id?: string;
  clientId: string;
  subject: string;
  scopes: string[];
  grantType: string;
  sessionId?: string;
  authTime?: Date;
}

/** What a presented refresh token is, when the atomic rotation did not accept it. */
export interface RefreshTokenState {
  grant: GrantRecord;
  rotatedAt: Date | null;
  expiresAt: Date;
}

interface GrantRow {
  id: string;
  client_id: string;
  subject: string;
  scopes: string[];
  session_id: string | null;
  auth_time: Date | null;
  revoked_at: Date | null;
}

const toGrant = (row: GrantRow): GrantRecord => ({
  id: row.id,
  clientId: row.client_id,
  subject: row.subject,
  scopes: row.scopes,
  sessionId: row.session_id,
  authTime: row.auth_time,
  revokedAt: row.revoked_at,
});

/**
 * Grants and their refresh-token chains in PostgreSQL. Tokens are stored as SHA-256
 * hashes. Every method is one statement, so that the database, not an instance,
 * decides races: of several rotations of one token exactly one matches, of several
 * redemptions of one authorization code exactly one creates its grant.
 */
@Injectable()
export class RefreshTokenStore {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Creates a grant, and its first refresh token when `tokenHash` is given. */
  async createGrant(grant: NewGrant, expiresAt: Date, tokenHash?: string): Promise<string> {
    return (await this.insertGrant(grant, expiresAt, tokenHash, undefined))!;
  }

  /**
   * Redeems an authorization code (by its hash) and creates its grant, with a first refresh
   * token when `tokenHash` is given, in one statement: both happen, or neither. Undefined
   * when the code was used already (or has expired): then nothing changed. Of parallel
   * redemptions on any number of instances exactly one gets the grant, and a crash can
   * never leave a spent code without its grant.
   */
  createGrantForCode(codeHash: string, grant: NewGrant, expiresAt: Date, tokenHash?: string): Promise<string | undefined> {
    return this.insertGrant(grant, expiresAt, tokenHash, codeHash);
  }

  private async insertGrant(grant: NewGrant, expiresAt: Date, tokenHash: string | undefined, codeHash: string | undefined): Promise<string | undefined> {
    const rows: { id: string }[] = await this.db.query(
      `WITH redeemed AS (
         UPDATE authorization_codes SET used_at = now()
         WHERE $10::text IS NOT NULL AND code_hash = $10 AND used_at IS NULL AND expires_at > now()
         RETURNING 1
       ), g AS (
         INSERT INTO grants (id, client_id, subject, scopes, grant_type, session_id, auth_time, expires_at, revoked_at, revoked_reason)
         SELECT coalesce($9::uuid, gen_random_uuid()), $1, $2, $3, $4, $5, $6, $7, r.created_at, CASE WHEN r.id IS NOT NULL THEN 'revoked_before_creation' END
         FROM (SELECT 1) one LEFT JOIN revocations r ON r.kind = 'grant' AND r.id = $9::text
         WHERE $10::text IS NULL OR EXISTS (SELECT 1 FROM redeemed)
         RETURNING id
       ), t AS (
         INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at)
         SELECT $8, id, 1, $7 FROM g WHERE $8::text IS NOT NULL
       )
       SELECT id FROM g`,
      [
        grant.clientId,
        grant.subject,
        grant.scopes,
        grant.grantType,
        grant.sessionId ?? null,
        grant.authTime ?? null,
        expiresAt,
        tokenHash ?? null,
        grant.id ?? null,
        codeHash ?? null,
      ],
    );
    return rows[0]?.id;
  }

  /**
   * Exchanges a current refresh token of `clientId` for its successor in one atomic
   * statement: marks it rotated, inserts the successor and extends the grant. With
   * `scopes`, only when they are all within the grant's (a narrowed refresh). Returns
   * undefined when the token is unknown, rotated, expired, revoked, another client's, or
   * the scopes are wider than the grant: then nothing changed.
   */
  async rotate(tokenHash: string, clientId: string, successorHash: string, expiresAt: Date, scopes?: readonly string[]): Promise<GrantRecord | undefined> {
    const rows: GrantRow[] = await this.db.query(
      `WITH old AS (
         UPDATE refresh_tokens rt SET rotated_at = now()
         FROM grants g
         WHERE rt.token_hash = $1 AND rt.rotated_at IS NULL AND rt.expires_at > now()
           AND g.id = rt.grant_id AND g.revoked_at IS NULL AND g.client_id = $2
           AND ($5::text[] IS NULL OR $5::text[] <@ g.scopes)
         RETURNING g.id, g.client_id, g.subject, g.scopes, g.session_id, g.auth_time, g.revoked_at, rt.generation
       ), successor AS (
         INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at)
         SELECT $3, id, generation + 1, $4 FROM old
       ), extended AS (
         UPDATE grants SET expires_at = $4 WHERE id = (SELECT id FROM old)
       )
       SELECT id, client_id, subject, scopes, session_id, auth_time, revoked_at FROM old`,
      [tokenHash, clientId, successorHash, expiresAt, scopes ?? null],
    );
    return rows[0] ? toGrant(rows[0]) : undefined;
  }

  /** Adds another current token to a grant (refresh within the reuse grace period). */
  async addToken(grantId: string, tokenHash: string, expiresAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at)
       SELECT $1, $2, coalesce(max(generation), 0) + 1, $3 FROM refresh_tokens WHERE grant_id = $2`,
      [tokenHash, grantId, expiresAt],
    );
  }

  /** The token's state and grant, whatever it is; undefined when unknown. */
  async find(tokenHash: string): Promise<RefreshTokenState | undefined> {
    const rows: (GrantRow & { rotated_at: Date | null; expires_at: Date })[] = await this.db.query(
      `SELECT g.id, g.client_id, g.subject, g.scopes, g.session_id, g.auth_time, g.revoked_at, rt.rotated_at, rt.expires_at
       FROM refresh_tokens rt JOIN grants g ON g.id = rt.grant_id WHERE rt.token_hash = $1`,
      [tokenHash],
    );
    const row = rows[0];
    return row ? { grant: toGrant(row), rotatedAt: row.rotated_at, expiresAt: row.expires_at } : undefined;
  }

  /** Ids of the live grants of a subject, or of those the subject gave one client (through grants_subject_idx). */
  async activeGrantIds(of: { subject: string; clientId?: string }): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM grants WHERE subject = $1 AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL AND expires_at > now()`,
      [of.subject, of.clientId ?? null],
    );
    return rows.map((row) => row.id);
  }

  /** Marks every live grant of a client revoked in one statement; returns their ids. */
  async revokeGrantsOfClient(clientId: string, reason: string): Promise<string[]> {
    // DataSource.query answers an UPDATE with [rows, rowCount].
    const [rows] = (await this.db.query(
      `UPDATE grants SET revoked_at = now(), revoked_reason = $2 WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING id`,
      [clientId, reason],
    )) as [{ id: string }[], number];
    return rows.map((row) => row.id);
  }

  /** Marks a grant revoked; returns false when it already was. */
  async revokeGrant(grantId: string, reason: string): Promise<boolean> {
    const changed = await affectedRows(this.db, `UPDATE grants SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL`, [
      grantId,
      reason,
    ]);
    return changed > 0;
  }
}
