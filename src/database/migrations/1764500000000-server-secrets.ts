import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Secrets of the server itself, sealed with the key-encryption key like client secrets:
 * the key behind pairwise subject identifiers and the browser state, which must not
 * change when the key-encryption key is rotated.
 */
export class ServerSecrets1764500000000 implements MigrationInterface {
  name = 'ServerSecrets1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE server_secrets (
        name text PRIMARY KEY,
        value_sealed text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS server_secrets`);
  }
}
