import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit/audit-log';
import { SecretBox, UnknownKeyEncryptionKeyError } from '../common/secret-box';
import { affectedRows } from '../database/affected-rows';
import { SEALED_COLUMNS, SealedColumn } from './sealed-columns';
import { isUndefinedTable } from './server-secrets';

/** Rows read and re-sealed per statement: short transactions, bounded memory. */
const BATCH_SIZE = 500;
/** A pass that met concurrent changes is followed by another one, at most this many in all. */
const MAX_PASSES = 5;

export interface ResealCount {
  /** Values this run re-sealed under the current key. */
  resealed: number;
  /** Values that were under the current key already when the run started. */
  already_current: number;
}

/** What `keys reencrypt` prints. */
export type ResealSummary = { key_id: string } & Record<SealedColumn['kind'], ResealCount> & {
    /** Values still under another key after the run (written meanwhile by an instance without the new key, or unreadable). */
    remaining: number;
    remaining_key_ids: string[];
  };

/**
 * Every value sealed with the key-encryption key, across the tables that hold one: the
 * start-up check that this process can open them, and their re-sealing under the
 * current key after a rotation.
 */
@Injectable()
export class SealedValues {
  private readonly logger = new Logger(SealedValues.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Fails, in one line naming the key id, when a value a server uses is sealed with a
   * key-encryption key this process was not given. One grouped scan per table.
   */
  async assertOpenable(): Promise<void> {
    for (const column of SEALED_COLUMNS) {
      let counts: Map<string, number>;
      try {
        counts = await this.countByKeyId(column, true);
      } catch (error) {
        if (isUndefinedTable(error)) continue;
        throw error;
      }
      for (const [keyId, count] of counts) {
        if (this.box.has(keyId)) continue;
        throw new UnknownKeyEncryptionKeyError(keyId, this.box.keyIds, count === 1 ? `1 ${column.label} is` : `${count} ${column.label}s are`);
      }
    }
  }

  /**
   * Re-seals every value not under the current key, table by table, in batches. Each
   * batch is one UPDATE that replaces a value only if the row still holds what was read,
   * so a secret rotated or a key created meanwhile is never overwritten; such rows are
   * looked at again in another pass. Safe to run again at any time.
   */
  async resealAll(): Promise<ResealSummary> {
    const counts = {} as Record<SealedColumn['kind'], ResealCount>;
    for (const column of SEALED_COLUMNS) {
      const already = await this.countByKeyId(column);
      let resealed = 0;
      for (let pass = 1; pass <= MAX_PASSES; pass++) {
        const result = await this.resealPass(column);
        resealed += result.resealed;
        if (result.conflicts === 0) break;
      }
      counts[column.kind] = { resealed, already_current: already.get(this.box.keyId) ?? 0 };
    }
    const remainingByKeyId = new Map<string, number>();
    for (const column of SEALED_COLUMNS) {
      for (const [keyId, count] of await this.countByKeyId(column)) {
        if (keyId !== this.box.keyId) remainingByKeyId.set(keyId, (remainingByKeyId.get(keyId) ?? 0) + count);
      }
    }
    const summary: ResealSummary = {
      key_id: this.box.keyId,
      ...counts,
      remaining: [...remainingByKeyId.values()].reduce((sum, count) => sum + count, 0),
      remaining_key_ids: [...remainingByKeyId.keys()],
    };
    const { key_id: keyId, ...details } = summary;
    this.logger.log(`re-sealed secrets under key-encryption key ${keyId}: ${JSON.stringify(details)}`);
    await this.audit.record('secrets.resealed', { details: { key_id: keyId, ...details } });
    return summary;
  }

  /** How many values of the column name each key id (only the rows a server opens, with `inUseOnly`). */
  private async countByKeyId(column: SealedColumn, inUseOnly = false): Promise<Map<string, number>> {
    const inUse = inUseOnly && column.inUse ? ` AND (${column.inUse})` : '';
    const rows: { key_id: string; count: number }[] = await this.db.query(
      `SELECT split_part(${column.column}, '.', 2) AS key_id, count(*)::int AS count FROM ${column.table} WHERE ${column.column} IS NOT NULL${inUse} GROUP BY 1`,
    );
    return new Map(rows.map((row) => [row.key_id, row.count]));
  }

  /** One walk over the table in primary-key order; `conflicts` counts rows that changed between read and write. */
  private async resealPass(column: SealedColumn): Promise<{ resealed: number; conflicts: number }> {
    let resealed = 0;
    let conflicts = 0;
    let after = '';
    for (;;) {
      const rows: { id: string; sealed: string }[] = await this.db.query(
        `SELECT ${column.id} AS id, ${column.column} AS sealed FROM ${column.table}
         WHERE ${column.column} IS NOT NULL AND split_part(${column.column}, '.', 2) <> $1 AND ${column.id} > $2
         ORDER BY ${column.id} LIMIT $3`,
        [this.box.keyId, after, BATCH_SIZE],
      );
      if (rows.length === 0) return { resealed, conflicts };
      after = rows[rows.length - 1].id;
      const ids: string[] = [];
      const previous: string[] = [];
      const next: string[] = [];
      for (const row of rows) {
        const keyId = SecretBox.keyIdOf(row.sealed);
        // Unreadable here (a key this process lacks, or malformed): left as is and reported as remaining.
        if (keyId === undefined || !this.box.has(keyId)) continue;
        ids.push(row.id);
        previous.push(row.sealed);
        next.push(this.resealOne(column, row));
      }
      if (ids.length === 0) continue;
      const changed = await affectedRows(
        this.db,
        `UPDATE ${column.table} AS t SET ${column.column} = u.next
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, previous, next)
         WHERE t.${column.id} = u.id AND t.${column.column} = u.previous`,
        [ids, previous, next],
      );
      resealed += changed;
      conflicts += ids.length - changed;
    }
  }

  private resealOne(column: SealedColumn, row: { id: string; sealed: string }): string {
    try {
      return this.box.reseal(row.sealed, column.context(row.id));
    } catch (error) {
      throw new Error(`${column.label} ${row.id} cannot be opened: ${(error as Error).message}`);
    }
  }
}
