import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';

/** SQLSTATEs a forced DROP DATABASE can answer while another process is briefly in the database. */
const TRANSIENT_DROP_ERRORS = new Set([
  '42501', // an autovacuum worker in the database: PostgreSQL 15 refuses to terminate it for a non-superuser
  '55006', // object_in_use: a backend that had not yet gone when the drop looked
]);

/**
 * Drops a test database, ending the connections still in it. A forced drop by a non-superuser
 * fails when an autovacuum worker happens to be vacuuming that database, so the drop is tried
 * again (the worker gives way within moments) before the error is thrown.
 */
export async function dropTestDatabase(adminUrl: string, name: string, attempts = 20): Promise<void> {
  const client = new Client({ connectionString: adminUrl, application_name: 'gatehouse-tests' });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= attempts || !code || !TRANSIENT_DROP_ERRORS.has(code)) throw error;
        await sleep(250);
      }
    }
  } finally {
    await client.end();
  }
}
