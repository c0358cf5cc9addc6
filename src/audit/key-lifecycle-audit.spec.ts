import { describe, expect, it, vi } from 'vitest';
import { AuditLog } from './audit-log';
import { KeyLifecycleAudit, ObservedKey } from './key-lifecycle-audit';

const NOW = Date.parse('2025-11-30T12:00:00Z');
const key = (kid: string, alg: string, activatesAt: number, unpublishAt: number | null = null): ObservedKey => ({ kid, alg, activatesAt, unpublishAt });

function lifecycle() {
  const recordAt = vi.fn<AuditLog['recordAt']>();
  const record = vi.fn<AuditLog['record']>();
  return { audit: new KeyLifecycleAudit({ recordAt, record } as unknown as AuditLog), recordAt, record };
}

describe('KeyLifecycleAudit', () => {
  it('reports each active key as activated, dated when it activated, and nothing for a key still waiting to sign', () => {
    const { audit, recordAt } = lifecycle();
    audit.observe([key('es-1', 'ES256', NOW - 5000), key('rs-1', 'RS256', NOW - 7000), key('es-2', 'ES256', NOW + 60_000)], NOW);
    expect(recordAt.mock.calls).toEqual([
      [NOW - 5000, 'key.activated', { actor: 'system', details: { kid: 'es-1', alg: 'ES256' } }],
      [NOW - 7000, 'key.activated', { actor: 'system', details: { kid: 'rs-1', alg: 'RS256' } }],
    ]);
  });

  it('once a successor signs, reports the old key retired (dated at the switch, with its successor and unpublish time), each event once', () => {
    const { audit, recordAt } = lifecycle();
    const keys = [key('es-1', 'ES256', NOW - 90_000, NOW + 86_400_000), key('es-2', 'ES256', NOW + 60_000)];
    audit.observe(keys, NOW);
    recordAt.mockClear();
    audit.observe(keys, NOW + 61_000);
    audit.observe(keys, NOW + 120_000);
    expect(recordAt.mock.calls).toEqual([
      [
        NOW + 60_000,
        'key.retired',
        { actor: 'system', details: { kid: 'es-1', alg: 'ES256', successor_kid: 'es-2', unpublish_at: new Date(NOW + 86_400_000).toISOString() } },
      ],
      [NOW + 60_000, 'key.activated', { actor: 'system', details: { kid: 'es-2', alg: 'ES256' } }],
    ]);
  });

  it('records generated keys as created by the system, ids and algorithms only', () => {
    const { audit, record } = lifecycle();
    audit.created([{ kid: 'es-1', alg: 'ES256', privateKeySealed: 'sealed' } as { kid: string; alg: string }]);
    expect(record).toHaveBeenCalledWith('key.created', { actor: 'system', details: { keys: [{ kid: 'es-1', alg: 'ES256' }] } });
  });
});
