import { Injectable } from '@nestjs/common';
import { AuditLog } from './audit-log';

/** What the audit needs to know of a signing key (times in epoch milliseconds). */
export interface ObservedKey {
  kid: string;
  alg: string;
  activatesAt: number;
  unpublishAt: number | null;
}

/**
 * Signing keys change by the clock, not by a request: a key rotated in starts signing at
 * its `activates_at`, and the key it replaces stops then (it stays published until
 * `unpublish_at`). Every instance watches its key list and reports each activation and
 * retirement it sees, dated when it happened; a partial unique index keeps one row each,
 * so a restarted instance fills in what happened while none was running.
 */
@Injectable()
export class KeyLifecycleAudit {
  private readonly reported = new Set<string>();

  constructor(private readonly audit: AuditLog) {}

  /** Keys generated because an algorithm had none (first start): they sign at once. */
  created(keys: readonly { kid: string; alg: string }[]): void {
    void this.audit.record('key.created', { actor: 'system', details: { keys: keys.map(({ kid, alg }) => ({ kid, alg })) } });
  }

  /** Called with the published keys after each re-read of the key table. */
  observe(keys: readonly ObservedKey[], now = Date.now()): void {
    const signing = new Map<string, ObservedKey>();
    for (const key of keys) {
      const newest = signing.get(key.alg);
      if (key.activatesAt <= now && (!newest || key.activatesAt > newest.activatesAt)) signing.set(key.alg, key);
    }
    for (const key of keys) {
      if (key.activatesAt > now) continue;
      this.once(`activated:${key.kid}`, key.activatesAt, 'key.activated', { kid: key.kid, alg: key.alg });
      const successor = signing.get(key.alg)!;
      if (successor.kid === key.kid) continue;
      this.once(`retired:${key.kid}`, successor.activatesAt, 'key.retired', {
        kid: key.kid,
        alg: key.alg,
        successor_kid: successor.kid,
        unpublish_at: key.unpublishAt === null ? null : new Date(key.unpublishAt).toISOString(),
      });
    }
  }

  private once(id: string, at: number, event: string, details: Record<string, unknown>): void {
    if (this.reported.has(id)) return;
    this.reported.add(id);
    this.audit.recordAt(at, event, { actor: 'system', details });
  }
}
