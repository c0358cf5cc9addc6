import { DataSource, Migration, MigrationExecutor } from 'typeorm';

/** Advisory lock key held while migrations run (an arbitrary constant of Gatehouse's own). */
const MIGRATIONS_LOCK_ID = 7_231_003;

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so that instances
 * (or cluster workers) starting at the same moment apply each migration once: the first
 * takes the lock and migrates, the others wait for it and then find nothing left to do.
 * The migrations run on the connection that holds the lock, so a pool of one connection
 * (DATABASE_POOL_SIZE=1) works too. The embedded engine serves one process, so it needs no lock.
 */
export async function runMigrations(db: DataSource): Promise<Migration[]> {
  // The embedded engine is reached without a URL (through its own pg adapter).
  const embedded = !('url' in db.options && db.options.url);
  if (embedded) return db.runMigrations({ transaction: 'each' });
  const runner = db.createQueryRunner();
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATIONS_LOCK_ID]);
    try {
      const executor = new MigrationExecutor(db, runner);
      executor.transaction = 'each';
      return await executor.executePendingMigrations();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_ID]);
    }
  } finally {
    await runner.release();
  }
}
