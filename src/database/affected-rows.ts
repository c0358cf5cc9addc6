import { DataSource } from 'typeorm';

/**
 * Runs an UPDATE or DELETE and returns how many rows it changed. (DataSource.query
 * answers `[rows, rowCount]` for those commands, unlike for SELECT and INSERT.)
 */
export async function affectedRows(db: DataSource, sql: string, parameters: unknown[]): Promise<number> {
  const result = (await db.query(sql, parameters)) as unknown;
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[1];
  throw new Error('affectedRows expects an UPDATE or DELETE statement');
}
