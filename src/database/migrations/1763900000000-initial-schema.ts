import { MigrationInterface, QueryRunner } from 'typeorm';

/** Users, clients, signing keys, grants with their refresh tokens, revocations, audit log, notes. */
export class InitialSchema1763900000000 implements MigrationInterface {
  name = 'InitialSchema1763900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        username text NOT NULL CHECK (length(username) BETWEEN 1 AND 255),
        email text,
        email_verified boolean NOT NULL DEFAULT false,
        name text,
        given_name text,
        family_name text,
        phone_number text,
        phone_number_verified boolean NOT NULL DEFAULT false,
        address jsonb,
        password_hash text NOT NULL,
        disabled boolean NOT NULL DEFAULT false,
        failed_login_count integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        last_login_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))`);

    await db.query(`
      CREATE TABLE clients (
        client_id text PRIMARY KEY,
        client_name text,
        token_endpoint_auth_method text NOT NULL
          CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
        secret_hash text,
        secret_sealed text,
        secret_rotated_at timestamptz,
        redirect_uris text[] NOT NULL DEFAULT '{}',
        grant_types text[] NOT NULL,
        response_types text[] NOT NULL,
        scopes text[] NOT NULL DEFAULT '{}',
        audience text[] NOT NULL DEFAULT '{}',
        access_token_ttl integer,
        refresh_token_ttl integer,
        first_party boolean NOT NULL DEFAULT false,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
      )`);

    await db.query(`
      CREATE TABLE signing_keys (
        kid text PRIMARY KEY,
        alg text NOT NULL,
        public_jwk jsonb NOT NULL,
        private_key_sealed text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        activates_at timestamptz NOT NULL,
        unpublish_at timestamptz
      )`);
    await db.query(`CREATE INDEX signing_keys_alg_activates_idx ON signing_keys (alg, activates_at DESC)`);

    await db.query(`
      CREATE TABLE grants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        client_id text NOT NULL,
        subject text NOT NULL,
        scopes text[] NOT NULL,
        grant_type text NOT NULL,
        session_id text,
        auth_time timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text
      )`);
    await db.query(`CREATE INDEX grants_subject_idx ON grants (subject)`);
    await db.query(`CREATE INDEX grants_client_idx ON grants (client_id)`);
    await db.query(`CREATE INDEX grants_session_idx ON grants (session_id) WHERE session_id IS NOT NULL`);
    await db.query(`CREATE INDEX grants_expires_idx ON grants (expires_at)`);

    await db.query(`
      CREATE TABLE refresh_tokens (
        token_hash text PRIMARY KEY,
        grant_id uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
        generation integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        rotated_at timestamptz
      )`);
    await db.query(`CREATE INDEX refresh_tokens_grant_idx ON refresh_tokens (grant_id)`);
    await db.query(`CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at)`);

    await db.query(`
      CREATE TABLE revocations (
        kind text NOT NULL CHECK (kind IN ('token', 'grant', 'session')),
        id text NOT NULL,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        seq bigserial NOT NULL,
        PRIMARY KEY (kind, id)
      )`);
    await db.query(`CREATE INDEX revocations_seq_idx ON revocations (seq)`);
    await db.query(`CREATE INDEX revocations_expires_idx ON revocations (expires_at)`);

    await db.query(`
      CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        event text NOT NULL,
        client_id text,
        subject text,
        remote_address text,
        details jsonb NOT NULL DEFAULT '{}'
      )`);
    await db.query(`CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at)`);

    await db.query(`
      CREATE TABLE notes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner text NOT NULL,
        text text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX notes_owner_idx ON notes (owner, created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['notes', 'audit_events', 'revocations', 'refresh_tokens', 'grants', 'signing_keys', 'clients', 'users']) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
