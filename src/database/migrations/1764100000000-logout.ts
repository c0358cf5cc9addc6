import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Back-channel logout deliveries waiting to be sent (OpenID Connect Back-Channel Logout 1.0):
 * kept in PostgreSQL so that any instance can send or retry them, also after a crash.
 */
export class Logout1764100000000 implements MigrationInterface {
  name = 'Logout1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE backchannel_logout_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        client_id text NOT NULL,
        uri text NOT NULL,
        logout_token text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        claimed_until timestamptz,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX backchannel_logout_deliveries_due_idx ON backchannel_logout_deliveries (next_attempt_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS backchannel_logout_deliveries`);
  }
}
