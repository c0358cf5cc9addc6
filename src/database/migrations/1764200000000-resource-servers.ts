import { MigrationInterface, QueryRunner } from 'typeorm';

/** Resource servers that registered a key to receive encrypted access tokens. */
export class ResourceServers1764200000000 implements MigrationInterface {
  name = 'ResourceServers1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE resource_servers (
        audience text PRIMARY KEY,
        encryption_jwk jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS resource_servers`);
  }
}
