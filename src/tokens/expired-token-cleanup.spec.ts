import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/configuration';
import { ExpiredTokenCleanup } from './expired-token-cleanup';

vi.mock('node:timers/promises', () => ({ setTimeout: vi.fn(() => Promise.resolve()) }));

const SIZE = 10;

/** A cleanup on the embedded database's path (no advisory lock) whose DELETEs report `counts` in turn, then 0. */
function cleanupDeleting(counts: number[], pause = 250): ExpiredTokenCleanup {
  const query = vi.fn(() => Promise.resolve([[], counts.shift() ?? 0]));
  const config = { maintenanceBatchSize: SIZE, maintenanceMaxBatches: 5, maintenanceBatchPauseMs: pause, maintenanceIntervalSeconds: 60 } as AppConfig;
  return new ExpiredTokenCleanup({ query } as unknown as DataSource, config);
}

describe('ExpiredTokenCleanup pauses', () => {
  beforeEach(() => vi.mocked(sleep).mockClear());

  it('pauses MAINTENANCE_BATCH_PAUSE_MS after each batch that deleted rows, and not after one that found none', async () => {
    // First statement: a full batch, then a partial one (its last); every other statement finds nothing.
    const result = await cleanupDeleting([SIZE, 3]).run();
    expect(Object.values(result).reduce((sum, count) => sum + count, 0)).toBe(SIZE + 3);
    expect(vi.mocked(sleep).mock.calls).toEqual([[250], [250]]);
  });

  it('does not pause at all in a round with nothing to purge', async () => {
    await cleanupDeleting([]).run();
    expect(sleep).not.toHaveBeenCalled();
  });

  it('never pauses with MAINTENANCE_BATCH_PAUSE_MS=0', async () => {
    await cleanupDeleting([SIZE, SIZE, 1], 0).run();
    expect(sleep).not.toHaveBeenCalled();
  });
});
