import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { randomToken, sha256 } from '../common/crypto';
import { ClaimsRequest } from '../oidc/claims';

/** What a code was issued for; everything the token request is checked against. */
export interface AuthorizationCodeRecord {
  clientId: string;
  redirectUri: string;
  /** Whether the authorization request named the redirect URI (the token request must then repeat it). */
  redirectUriGiven: boolean;
  scopes: string[];
  subject: string;
  sessionId: string;
  authTime: Date;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  nonce: string | null;
  /** The `claims` request parameter, for the ID token and UserInfo. */
  claims: ClaimsRequest | null;
  /** The grant the code's tokens will belong to, fixed at issue so that a replay can revoke it. */
  grantId: string;
  expiresAt: Date;
  usedAt: Date | null;
}

export type NewAuthorizationCode = Omit<AuthorizationCodeRecord, 'grantId' | 'expiresAt' | 'usedAt'>;

interface CodeRow {
  client_id: string;
  redirect_uri: string;
  redirect_uri_given: boolean;
  scopes: string[];
  subject: string;
  session_id: string;
  auth_time: Date;
  code_challenge: string | null;
  code_challenge_method: string | null;
  nonce: string | null;
  claims: ClaimsRequest | null;
  grant_id: string;
  expires_at: Date;
  used_at: Date | null;
}

const toRecord = (row: CodeRow): AuthorizationCodeRecord => ({
  clientId: row.client_id,
  redirectUri: row.redirect_uri,
  redirectUriGiven: row.redirect_uri_given,
  scopes: row.scopes,
  subject: row.subject,
  sessionId: row.session_id,
  authTime: row.auth_time,
  codeChallenge: row.code_challenge,
  codeChallengeMethod: row.code_challenge_method,
  nonce: row.nonce,
  claims: row.claims,
  grantId: row.grant_id,
  expiresAt: row.expires_at,
  usedAt: row.used_at,
});

/**
 * Authorization codes: 256 random bits, stored as SHA-256 hashes, valid for at most
 * AUTHORIZATION_CODE_TTL (≤ 60 s). Single use is decided by PostgreSQL: a code is spent
 * in the same statement that creates its grant (RefreshTokenStore.createGrantForCode), so
 * of any number of redemptions on any number of instances exactly one wins.
 */
@Injectable()
export class AuthorizationCodesService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  async issue(code: NewAuthorizationCode): Promise<string> {
    const value = randomToken();
    await this.db.query(
      `INSERT INTO authorization_codes
         (code_hash, client_id, redirect_uri, redirect_uri_given, scopes, subject, session_id, auth_time, code_challenge, code_challenge_method, nonce, claims, grant_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now() + make_interval(secs => $14))`,
      [
        sha256(value),
        code.clientId,
        code.redirectUri,
        code.redirectUriGiven,
        code.scopes,
        code.subject,
        code.sessionId,
        code.authTime,
        code.codeChallenge,
        code.codeChallengeMethod,
        code.nonce,
        code.claims ? JSON.stringify(code.claims) : null,
        randomUUID(),
        this.config.authorizationCodeTtl,
      ],
    );
    return value;
  }

  /** The code's record, used or not; undefined when unknown. */
  async find(code: string): Promise<AuthorizationCodeRecord | undefined> {
    const rows: CodeRow[] = await this.db.query(`SELECT * FROM authorization_codes WHERE code_hash = $1`, [sha256(code)]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }
}
