import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditLog } from './audit-log';

/** Which audit events to list: all given conditions hold. */
export interface AuditFilter {
  /** An event name, or a prefix ending in `*` (e.g. `login.*`). */
  event?: string;
  subject?: string;
  clientId?: string;
  since?: Date;
  until?: Date;
  limit: number;
}

/** One audit event as `audit list` prints it. */
export interface AuditRecord {
  id: string;
  occurred_at: string;
  event: string;
  actor: string | null;
  client_id: string | null;
  subject: string | null;
  remote_address: string | null;
  details: Record<string, unknown>;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
const AGO = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A point in time: ISO 8601 (`2025-11-30T12:00:00Z`, `2025-11-30`) or a duration ago (`15m`, `24h`, `7d`). */
function instant(name: string, value: unknown, now: number): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`--${name} must be a date or a duration ago`);
  const ago = AGO.exec(value.trim());
  if (ago) return new Date(now - Number(ago[1]) * UNIT_MS[ago[2]]);
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(parsed.getTime())) throw new Error(`--${name} must be an ISO 8601 date-time or a duration ago such as 15m, 24h or 7d, got "${value}"`);
  return parsed;
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 255) throw new Error(`--${name} must be a string of at most 255 characters`);
  return value;
}

/** Reads the CLI's options (strings) into a filter; a clear one-line error for a bad one. */
export function parseAuditFilter(input: unknown, now = Date.now()): AuditFilter {
  const options = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const rawLimit = options.limit ?? DEFAULT_LIMIT;
  const limit = typeof rawLimit === 'number' ? rawLimit : /^\d+$/.test(String(rawLimit)) ? Number(rawLimit) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new Error(`--limit must be an integer between 1 and ${MAX_LIMIT}`);
  const filter: AuditFilter = {
    event: text('event', options.event),
    subject: text('subject', options.subject),
    clientId: text('client', options.client),
    since: instant('since', options.since, now),
    until: instant('until', options.until, now),
    limit,
  };
  if (filter.since && filter.until && filter.since > filter.until) throw new Error('--since is after --until');
  return filter;
}

/** Reads the audit trail, newest first. Queued events are written first, so an action just taken shows. */
@Injectable()
export class AuditQuery {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditLog,
  ) {}

  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    await this.audit.flush();
    const conditions: string[] = [];
    const params: unknown[] = [];
    const where = (sql: string, value: unknown) => {
      params.push(value);
      conditions.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.event?.endsWith('*')) where(`event LIKE ?`, `${filter.event.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`);
    else if (filter.event) where(`event = ?`, filter.event);
    if (filter.subject) where(`subject = ?`, filter.subject);
    if (filter.clientId) where(`client_id = ?`, filter.clientId);
    if (filter.since) where(`occurred_at >= ?`, filter.since);
    if (filter.until) where(`occurred_at <= ?`, filter.until);
    params.push(filter.limit);
    const rows = (await this.db.query(
      `SELECT id, occurred_at, event, actor, client_id, subject, remote_address, details FROM audit_events
       ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    )) as (Omit<AuditRecord, 'occurred_at' | 'id'> & { id: string | number; occurred_at: Date })[];
    return rows.map((row) => ({ ...row, id: String(row.id), occurred_at: new Date(row.occurred_at).toISOString() }));
  }
}
