import { describe, expect, it } from 'vitest';
import { parseAuditFilter } from './audit-query';

const NOW = Date.parse('2025-11-30T12:00:00Z');

describe('parseAuditFilter (audit list options)', () => {
  it('lists the newest 100 events when no option is given', () => {
    expect(parseAuditFilter({}, NOW)).toEqual({ limit: 100 });
  });

  it('reads event, subject, client, since, until and limit', () => {
    expect(parseAuditFilter({ event: 'login.*', subject: 'u-1', client: 'app', since: '2025-11-29T00:00:00Z', until: '2025-11-30', limit: '5' }, NOW)).toEqual({
      event: 'login.*',
      subject: 'u-1',
      clientId: 'app',
      since: new Date('2025-11-29T00:00:00Z'),
      until: new Date('2025-11-30'),
      limit: 5,
    });
  });

  it('reads since and until as durations ago: 30s, 15m, 24h, 7d', () => {
    expect(parseAuditFilter({ since: '7d', until: '15m' }, NOW)).toMatchObject({ since: new Date(NOW - 7 * 86_400_000), until: new Date(NOW - 900_000) });
    expect(parseAuditFilter({ since: '30s' }, NOW).since).toEqual(new Date(NOW - 30_000));
    expect(parseAuditFilter({ since: '24h' }, NOW).since).toEqual(new Date(NOW - 86_400_000));
  });

  it.each([
    [{ limit: '0' }, /--limit/],
    [{ limit: '10001' }, /--limit/],
    [{ limit: 'ten' }, /--limit/],
    [{ since: 'yesterday' }, /--since must be an ISO 8601 date-time or a duration ago/],
    [{ until: '2025-13-45' }, /--until/],
    [{ since: '1h', until: '2h' }, /--since is after --until/],
    [{ event: 'x'.repeat(256) }, /--event/],
  ])('refuses %j with one line naming the option', (options, message) => {
    expect(() => parseAuditFilter(options, NOW)).toThrow(message);
  });
});
