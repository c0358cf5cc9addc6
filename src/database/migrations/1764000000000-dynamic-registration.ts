import { MigrationInterface, QueryRunner } from 'typeorm';

/** RFC 7591/7592 dynamic registration: the SHA-256 of each dynamically registered client's registration access token. */
export class DynamicRegistration1764000000000 implements MigrationInterface {
  name = 'DynamicRegistration1764000000000';

  async up(db: QueryRunner): Promise<void> {
    // NULL for clients created by the admin CLI: they cannot be managed over RFC 7592.
    await db.query(`ALTER TABLE clients ADD COLUMN registration_access_token_hash text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE clients DROP COLUMN IF EXISTS registration_access_token_hash`);
  }
}
