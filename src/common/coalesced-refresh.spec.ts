import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoalescedRefresh } from './coalesced-refresh';

describe('CoalescedRefresh', () => {
  let runs: number;
  let release: (() => void)[];
  /** A refresh that completes when the test releases it. */
  const refresh = () =>
    new Promise<void>((resolve) => {
      runs++;
      release.push(resolve);
    });
  const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };

  beforeEach(() => {
    vi.useFakeTimers();
    runs = 0;
    release = [];
  });
  afterEach(() => vi.useRealTimers());

  it('runs once for every caller that asks at the same time', async () => {
    const coalesced = new CoalescedRefresh(refresh, 1000);
    const waiting = Promise.all(Array.from({ length: 100 }, () => coalesced.request()));
    await settle();
    expect(runs).toBe(1);
    release.shift()!();
    await waiting;
    expect(runs).toBe(1);
  });

  it('gives a caller that asks during a run a later run, not the one in progress', async () => {
    const coalesced = new CoalescedRefresh(refresh, 0);
    let early = false;
    let late = false;
    void coalesced.request().then(() => (early = true));
    await settle();
    void coalesced.request().then(() => (late = true));
    await settle();
    release.shift()!();
    await settle();
    expect([early, late]).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(2);
    release.shift()!();
    await settle();
    expect(late).toBe(true);
  });

  it('starts runs at most once per interval, however many callers keep asking', async () => {
    const coalesced = new CoalescedRefresh(async () => {
      runs++;
    }, 1000);
    // 100 callers a second for ten seconds.
    for (let tick = 0; tick < 1000; tick++) {
      void coalesced.request();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(runs).toBeGreaterThanOrEqual(9);
    expect(runs).toBeLessThanOrEqual(11);
  });

  it('rejects the callers of a failed run, and runs again for the next caller', async () => {
    let fail = true;
    const coalesced = new CoalescedRefresh(async () => {
      runs++;
      if (fail) throw new Error('database down');
    }, 0);
    await expect(coalesced.request()).rejects.toThrow('database down');
    fail = false;
    await expect(coalesced.request()).resolves.toBeUndefined();
    expect(runs).toBe(2);
  });
});
