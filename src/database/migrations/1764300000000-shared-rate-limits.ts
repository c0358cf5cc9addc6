import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rate-limit counters written in batches by every instance (one row per key and window,
 * purged once the window is over), replacing the one-row-per-key counters that were
 * written on every hit; and the lockouts of clients' secret paths after repeated failed
 * authentications (one row per client ever locked, reused for its next lockout).
 */
export class SharedRateLimits1764300000000 implements MigrationInterface {
  name = 'SharedRateLimits1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS rate_limits`);
    await db.query(`
      CREATE TABLE rate_limits (
        key text NOT NULL,
        window_start bigint NOT NULL,
        hits bigint NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (key, window_start)
      )`);
    await db.query(`CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at)`);
    await db.query(`
      CREATE TABLE client_auth_lockouts (
        client_id text PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
        locked_at timestamptz NOT NULL,
        locked_until timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX client_auth_lockouts_until_idx ON client_auth_lockouts (locked_until)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS client_auth_lockouts`);
    await db.query(`DROP TABLE IF EXISTS rate_limits`);
    await db.query(`
      CREATE TABLE rate_limits (
        key text PRIMARY KEY,
        window_start timestamptz NOT NULL,
        hits integer NOT NULL
      )`);
    await db.query(`CREATE INDEX rate_limits_window_idx ON rate_limits (window_start)`);
  }
}
