import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log becomes append-only: a statement trigger refuses every UPDATE, DELETE and
 * TRUNCATE of audit_events (whatever the rows), so no code path can rewrite history.
 * Adds who acted when it was neither the subject nor the client (`actor`: cli, system),
 * the indexes behind `audit list`, and a partial unique index that keeps one row per
 * key activation or retirement however many instances report it.
 */
export class AuditAppendOnly1764400000000 implements MigrationInterface {
  name = 'AuditAppendOnly1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE audit_events ADD COLUMN actor text`);
    await db.query(`CREATE INDEX audit_events_event_idx ON audit_events (event, occurred_at)`);
    await db.query(`CREATE INDEX audit_events_subject_idx ON audit_events (subject, occurred_at) WHERE subject IS NOT NULL`);
    await db.query(`CREATE INDEX audit_events_client_idx ON audit_events (client_id, occurred_at) WHERE client_id IS NOT NULL`);
    await db.query(
      `CREATE UNIQUE INDEX audit_events_key_lifecycle_idx ON audit_events (event, (details->>'kid')) WHERE event IN ('key.activated', 'key.retired')`,
    );
    await db.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    await db.query(
      `CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events`);
    await db.query(`DROP FUNCTION IF EXISTS audit_events_append_only()`);
    for (const index of ['audit_events_key_lifecycle_idx', 'audit_events_client_idx', 'audit_events_subject_idx', 'audit_events_event_idx']) {
      await db.query(`DROP INDEX IF EXISTS ${index}`);
    }
    await db.query(`ALTER TABLE audit_events DROP COLUMN IF EXISTS actor`);
  }
}
