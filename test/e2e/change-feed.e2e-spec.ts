import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_DATABASE_URL, TestApp } from '../helpers/test-app';

/** The cross-instance change feed (LISTEN/NOTIFY) holds one connection per instance, for as long as the instance runs. */
describe('change feed connection', () => {
  let gatehouse: TestApp;

  beforeAll(async () => {
    gatehouse = await startTestApp();
  });
  afterAll(() => gatehouse?.close());

  /** Notification connections open on this test's database, once they number `expected` (or after 5 s). */
  async function listeners(expected: number): Promise<number> {
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      let count = -1;
      for (let attempt = 0; attempt < 50 && count !== expected; attempt++) {
        if (attempt) await new Promise((resolve) => setTimeout(resolve, 100));
        const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'gatehouse-listener'`, [
          gatehouse.databaseName,
        ]);
        count = rows[0].n;
      }
      return count;
    } finally {
      await admin.end();
    }
  }

  it('opens one listening connection per instance although many services subscribe at start-up, and closes it when the instance closes', async () => {
    expect(await listeners(1)).toBe(1);
    const second = await gatehouse.startInstance();
    expect(await listeners(2)).toBe(2);
    await second.close();
    expect(await listeners(1)).toBe(1);
  });
});
