import { afterEach, describe, expect, it, vi } from 'vitest';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { AuditLog, QueuedEvent, serializeBatch } from './audit-log';

/** A row as the INSERT receives it (see serializeBatch). */
interface Row {
  t: number;
  e: string;
  a?: string;
  c?: string;
  s?: string;
  r?: string;
  d?: Record<string, unknown>;
}

/** An AuditLog over a fake connection that records each INSERT's columns (or fails while `down`). */
function auditLog(settings: { interval?: number; limit?: number } = {}) {
  const inserts: Row[][] = [];
  const state = { down: false };
  const query = vi.fn(async (_sql: string, [json]: [string]) => {
    if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    inserts.push(JSON.parse(json) as Row[]);
    return [];
  });
  const config = { auditFlushIntervalMs: settings.interval ?? 60_000, auditBufferLimit: settings.limit ?? 50_000 } as AppConfig;
  const log = new AuditLog({ query } as unknown as DataSource, config);
  const rows = () => inserts.flat().map((row) => ({ event: row.e, subject: row.s, details: row.d ?? {} }));
  return { log, query, inserts, rows, state };
}

const logs: AuditLog[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const log of logs.splice(0)) await log.onApplicationShutdown();
});

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('AuditLog.record', () => {
  it('only queues: it returns an already-resolved promise and touches no database', async () => {
    const { log, query } = auditLog();
    const result = log.record('login.succeeded', { subject: 'user-1' });
    expect(log.pending).toBe(1);
    expect(query).not.toHaveBeenCalled();
    await expect(result).resolves.toBeUndefined();
    expect(log.record('login.failed')).toBe(result);
  });

  it('writes the queue as one multi-row INSERT, in the order recorded, with who, what, when and from where', async () => {
    const { log, query, inserts } = auditLog();
    const before = Date.now();
    log.record('token.issued', { clientId: 'app', subject: 'user-1', remoteAddress: '203.0.113.9', details: { grant_type: 'password', jti: 'j1' } });
    log.record('client.created', { clientId: 'app', actor: 'cli' });
    await log.flush();
    expect(query).toHaveBeenCalledTimes(1);
    expect(query.mock.calls[0][0]).toMatch(/INSERT INTO audit_events .* FROM ROWS FROM \(jsonb_to_recordset\(\$1::jsonb\)/s);
    expect(inserts[0]).toEqual([
      { t: expect.any(Number), e: 'token.issued', c: 'app', s: 'user-1', r: '203.0.113.9', d: { grant_type: 'password', jti: 'j1' } },
      { t: expect.any(Number), e: 'client.created', a: 'cli', c: 'app' },
    ]);
    for (const row of inserts[0]) expect(row.t).toBeGreaterThanOrEqual(before);
    expect(log.pending).toBe(0);
  });

  it('flushes on its own every AUDIT_FLUSH_INTERVAL_MS', async () => {
    const { log, rows } = auditLog({ interval: 20 });
    logs.push(log);
    log.onModuleInit();
    log.record('consent.granted', { subject: 'user-1' });
    await until(() => rows().length === 1);
    expect(rows()[0].event).toBe('consent.granted');
  });

  it('does not wait for the timer once 500 events are queued, and writes at most 1000 rows per statement', async () => {
    const { log, inserts, rows } = auditLog();
    for (let i = 0; i < 2500; i++) log.record('token.issued', { details: { n: i } });
    await until(() => rows().length === 2500);
    expect(Math.max(...inserts.map((batch) => batch.length))).toBeLessThanOrEqual(1000);
    expect(rows().map((row) => row.details.n)).toEqual([...Array(2500).keys()]);
  });

  it('keeps the events while PostgreSQL is unreachable, warns once, and writes them in order once it is back', async () => {
    const { log, rows, state } = auditLog();
    const warn = vi.spyOn((log as unknown as { logger: { warn: (message: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    state.down = true;
    log.record('login.failed', { details: { n: 1 } });
    await log.flush();
    log.record('login.failed', { details: { n: 2 } });
    await log.flush();
    expect(log.pending).toBe(2);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/cannot write audit events, keeping 1 queued: connect ECONNREFUSED/);
    state.down = false;
    await log.flush();
    expect(rows().map((row) => row.details.n)).toEqual([1, 2]);
  });

  it('keeps at most AUDIT_BUFFER_LIMIT events, drops the oldest with a counted warning, and records the gap when it can write again', async () => {
    const { log, rows, state } = auditLog({ limit: 100 });
    const warn = vi.spyOn((log as unknown as { logger: { warn: (message: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    state.down = true;
    await log.flush();
    for (let i = 0; i < 150; i++) log.record('token.issued', { details: { n: i } });
    await log.flush();
    expect(log.pending).toBe(100);
    expect(warn.mock.calls.some(([message]) => /AUDIT_BUFFER_LIMIT 100\): \d+ oldest events dropped/.test(message))).toBe(true);
    state.down = false;
    await log.flush();
    const written = rows();
    expect(written[0]).toMatchObject({ event: 'audit.events_dropped', details: { count: 50 } });
    expect(written.slice(1).map((row) => row.details.n)).toEqual([...Array(100).keys()].map((i) => i + 50));
  });

  it('on shutdown writes everything still queued, including what arrives while a flush is running', async () => {
    const { log, rows } = auditLog();
    log.onModuleInit();
    log.record('session.logged_out', { subject: 'user-1' });
    const running = log.flush();
    log.record('grant.revoked', { subject: 'user-1' });
    await log.onApplicationShutdown();
    await running;
    expect(rows().map((row) => row.event)).toEqual(['session.logged_out', 'grant.revoked']);
    expect(log.pending).toBe(0);
  });
});

describe('serializeBatch', () => {
  const batchOf = (details: Record<string, unknown>): QueuedEvent[] => [{ at: 1, event: 'test.event', context: { details } }];

  it('never writes a string under a credential name, whatever a caller passes', () => {
    const json = serializeBatch(
      batchOf({ password: 'hunter2-hunter2', client_secret: 's3cr3t', refresh_token: 'rt-value', code: 'c0de', nested: { access_token: 'at-value' } }),
    );
    for (const secret of ['hunter2-hunter2', 's3cr3t', 'rt-value', 'c0de', 'at-value']) expect(json).not.toContain(secret);
    expect((JSON.parse(json) as Row[])[0].d).toMatchObject({ password: '[redacted]', nested: { access_token: '[redacted]' } });
  });

  it('keeps ids, flags, the event and everything else as they are', () => {
    const details = {
      jti: 'abc',
      grant_id: 'g-1',
      kid: 'k-1',
      refresh_token: true,
      id_token: false,
      scope: 'openid',
      grant_type: 'refresh_token',
      keys: [{ kid: 'k-2' }],
    };
    expect(JSON.parse(serializeBatch(batchOf(details)))).toEqual([{ t: 1, e: 'test.event', d: details }]);
  });
});
