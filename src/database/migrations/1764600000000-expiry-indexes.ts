import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for the expired-row cleanup on the two expiry columns that had none, so that each
 * purge batch is an index range scan instead of a sequential scan of the whole table: logged-out
 * sessions (ended_at; partial, as live sessions have none) and back-channel logout deliveries
 * (expires_at, also what every instance's delivery loop deletes by).
 */
export class ExpiryIndexes1764600000000 implements MigrationInterface {
  name = 'ExpiryIndexes1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX IF NOT EXISTS sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL`);
    await db.query(`CREATE INDEX IF NOT EXISTS backchannel_logout_deliveries_expires_idx ON backchannel_logout_deliveries (expires_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS backchannel_logout_deliveries_expires_idx`);
    await db.query(`DROP INDEX IF EXISTS sessions_ended_idx`);
  }
}
