import { MigrationInterface, QueryRunner } from 'typeorm';

/** Login sessions, remembered consents, authorization codes, rate-limit counters; client browser settings. */
export class BrowserFlows1763950000000 implements MigrationInterface {
  name = 'BrowserFlows1763950000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE clients
      ADD COLUMN allowed_cors_origins text[] NOT NULL DEFAULT '{}',
      ADD COLUMN require_pkce boolean NOT NULL DEFAULT true,
      ADD COLUMN allow_plain_pkce boolean NOT NULL DEFAULT false`);
    await db.query(`CREATE INDEX clients_cors_origins_idx ON clients USING gin (allowed_cors_origins)`);

    await db.query(`
      CREATE TABLE sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash text NOT NULL UNIQUE,
        user_id uuid REFERENCES users (id) ON DELETE CASCADE,
        csrf_token text NOT NULL,
        auth_time timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        ended_at timestamptz
      )`);
    await db.query(`CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL`);
    await db.query(`CREATE INDEX sessions_expires_idx ON sessions (expires_at)`);

    await db.query(`
      CREATE TABLE consents (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        client_id text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, client_id)
      )`);

    await db.query(`
      CREATE TABLE authorization_codes (
        code_hash text PRIMARY KEY,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        redirect_uri_given boolean NOT NULL,
        scopes text[] NOT NULL,
        subject uuid NOT NULL,
        session_id uuid NOT NULL,
        auth_time timestamptz NOT NULL,
        code_challenge text,
        code_challenge_method text,
        nonce text,
        claims jsonb,
        grant_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      )`);
    await db.query(`CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at)`);

    await db.query(`
      CREATE TABLE rate_limits (
        key text PRIMARY KEY,
        window_start timestamptz NOT NULL,
        hits integer NOT NULL
      )`);
    await db.query(`CREATE INDEX rate_limits_window_idx ON rate_limits (window_start)`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['rate_limits', 'authorization_codes', 'consents', 'sessions']) await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`DROP INDEX IF EXISTS clients_cors_origins_idx`);
    await db.query(`ALTER TABLE clients DROP COLUMN allowed_cors_origins, DROP COLUMN require_pkce, DROP COLUMN allow_plain_pkce`);
  }
}
