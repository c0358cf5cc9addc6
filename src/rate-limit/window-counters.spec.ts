import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterBook, FlushResult, LimitRule, MAX_COUNTERS_PER_LIMIT, WindowLimit } from './window-counters';

/** A window of 60 s starting at a whole minute, and a moment inside it. */
const MINUTE = 60_000;
const T0 = 1_764_300_000_000 - (1_764_300_000_000 % MINUTE);

/**
 * What the flush statement does to the rate_limits table, for these unit tests: hits are
 * added to the row of their key and window and the new count returned; a row of 0 hits
 * only reads the count (when there is one).
 */
class Table {
  readonly rows = new Map<string, number>();

  apply(book: CounterBook, now: number): void {
    const batch = book.beginFlush(now);
    if (!batch) return;
    const results: FlushResult[] = [];
    for (const row of batch.rows) {
      const id = `${row.windowStart}|${row.key}`;
      const stored = this.rows.get(id);
      if (row.hits > 0) this.rows.set(id, (stored ?? 0) + row.hits);
      if (row.hits > 0 || stored !== undefined) results.push({ key: row.key, windowStart: row.windowStart, hits: this.rows.get(id)! });
    }
    book.completeFlush(batch, results, now);
  }

  count(key: string, windowStart: number): number {
    return this.rows.get(`${windowStart}|${key}`) ?? 0;
  }
}

/** An instance: its own book, with the limit defined the same way as on the others. */
function instance(rule: Partial<LimitRule> = {}): { book: CounterBook; limit: WindowLimit } {
  const book = new CounterBook();
  const limit = book.add({ name: 'token-client', limit: 10, windowSeconds: 60, mode: 'local', ...rule });
  return { book, limit };
}

const admitted = (limit: WindowLimit, id: string, hits: number, now: number): number => {
  let allowed = 0;
  for (let i = 0; i < hits; i++) if (limit.take(id, now).allowed) allowed++;
  return allowed;
};

describe('WindowLimit in local mode (decided in memory)', () => {
  it('admits the limit in a window on one instance, then refuses without counting the refusals', () => {
    const { book, limit } = instance();
    const table = new Table();
    expect(admitted(limit, 'app', 10, T0 + 1000)).toBe(10);
    expect(limit.take('app', T0 + 2000)).toMatchObject({ allowed: false, count: 10 });
    table.apply(book, T0 + 3000);
    expect(table.count('token-client:app', T0)).toBe(10);
  });

  it('counts each id on its own', () => {
    const { limit } = instance({ limit: 2 });
    expect(admitted(limit, 'a', 3, T0)).toBe(2);
    expect(admitted(limit, 'b', 3, T0)).toBe(2);
  });

  it('uses fixed windows aligned to the epoch: a new window starts at the next whole window, with a fresh count', () => {
    const { limit } = instance({ limit: 3 });
    expect(admitted(limit, 'app', 5, T0 + 59_999)).toBe(3);
    expect(admitted(limit, 'app', 5, T0 + MINUTE)).toBe(3);
    const hourly = instance({ limit: 1, windowSeconds: 3600 }).limit;
    const hour = 3_600_000;
    const start = Math.floor(T0 / hour) * hour;
    expect(hourly.take('app', start + 10).allowed).toBe(true);
    expect(hourly.take('app', start + hour - 1).allowed).toBe(false);
    expect(hourly.take('app', start + hour).allowed).toBe(true);
  });

  it('gives Retry-After as the whole seconds left in the window, rounded up, at least 1', () => {
    const { limit } = instance({ limit: 1 });
    limit.take('a', T0);
    expect(limit.take('a', T0 + 12_300).retryAfter).toBe(48);
    expect(limit.take('a', T0).retryAfter).toBe(60);
    expect(limit.take('a', T0 + 59_500).retryAfter).toBe(1);
    expect(limit.take('a', T0 + 59_999).retryAfter).toBe(1);
  });

  it('with limit 0 admits everything and writes nothing', () => {
    const { book, limit } = instance({ limit: 0 });
    expect(admitted(limit, 'app', 1000, T0)).toBe(1000);
    expect(book.beginFlush(T0)).toBeUndefined();
    expect(limit.size).toBe(0);
  });

  it('flushes one row per touched key with the hits since the last flush, and nothing when idle', () => {
    const book = new CounterBook();
    const perClient = book.add({ name: 'token-client', limit: 100, windowSeconds: 60, mode: 'local' });
    const perAddress = book.add({ name: 'token-address', limit: 100, windowSeconds: 60, mode: 'local' });
    for (let i = 0; i < 7; i++) perClient.take('app', T0);
    perAddress.take('203.0.113.7', T0);
    const batch = book.beginFlush(T0 + 1)!;
    expect(batch.rows).toEqual([
      { key: 'token-client:app', windowStart: T0, hits: 7, expiresAt: T0 + MINUTE },
      { key: 'token-address:203.0.113.7', windowStart: T0, hits: 1, expiresAt: T0 + MINUTE },
    ]);
    book.completeFlush(batch, [], T0 + 2);
    expect(book.beginFlush(T0 + 3)).toBeUndefined();
  });

  it('refuses a define of the same name twice, and names that are not lower-case words', () => {
    const book = new CounterBook();
    book.add({ name: 'login', limit: 1, windowSeconds: 60, mode: 'exact' });
    expect(() => book.add({ name: 'login', limit: 1, windowSeconds: 60, mode: 'exact' })).toThrow(/twice/);
    expect(() => book.add({ name: 'Bad Name', limit: 1, windowSeconds: 60, mode: 'exact' })).toThrow(/lower-case/);
  });

  it('holds a limit reached half on each of two instances: after one flush each, both refuse', () => {
    const a = instance();
    const b = instance();
    const table = new Table();
    expect(admitted(a.limit, 'app', 5, T0 + 100)).toBe(5);
    table.apply(a.book, T0 + 200);
    expect(admitted(b.limit, 'app', 5, T0 + 300)).toBe(5);
    table.apply(b.book, T0 + 400);
    // a learns b's hits by re-reading its counter, which is at half its limit.
    table.apply(a.book, T0 + 500);
    expect(a.limit.take('app', T0 + 600)).toMatchObject({ allowed: false, count: 10 });
    expect(b.limit.take('app', T0 + 600)).toMatchObject({ allowed: false, count: 10 });
    expect(table.count('token-client:app', T0)).toBe(10);
  });

  it('decides from the last known global count plus the local hits since (hits in flight included)', () => {
    const a = instance({ limit: 100 });
    const b = instance({ limit: 100 });
    const table = new Table();
    admitted(b.limit, 'app', 60, T0);
    table.apply(b.book, T0 + 1);
    admitted(a.limit, 'app', 30, T0 + 2);
    const batch = a.book.beginFlush(T0 + 3)!; // in flight
    expect(a.limit.take('app', T0 + 4)).toMatchObject({ allowed: true, count: 31 });
    const results = batch.rows.map((row) => ({ key: row.key, windowStart: row.windowStart, hits: 60 + row.hits }));
    a.book.completeFlush(batch, results, T0 + 5);
    expect(a.limit.take('app', T0 + 6)).toMatchObject({ allowed: true, count: 92 });
  });

  it('never lets one instance admit more than the limit in a window, whatever it does not know', () => {
    const { limit } = instance({ limit: 50 });
    expect(admitted(limit, 'app', 500, T0)).toBe(50);
  });

  it('bounds the overshoot across instances by what the instances admit between two of their flushes', () => {
    // Any interleaving of hits and flushes of 1 to 4 instances within one window.
    const event = fc.record({ instance: fc.nat(3), flush: fc.boolean(), hits: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 60 }), fc.array(event, { maxLength: 120 }), (count, max, events) => {
        const table = new Table();
        const instances = Array.from({ length: count }, () => ({ ...instance({ limit: max }), sinceFlush: 0, worst: 0, admitted: 0 }));
        for (const { instance: index, flush, hits } of events) {
          const node = instances[index % count];
          if (flush) {
            table.apply(node.book, T0 + 1);
            node.sinceFlush = 0;
            continue;
          }
          const allowed = admitted(node.limit, 'app', hits, T0 + 1);
          node.admitted += allowed;
          node.sinceFlush += allowed;
          node.worst = Math.max(node.worst, node.sinceFlush);
        }
        const total = instances.reduce((sum, node) => sum + node.admitted, 0);
        const bound = max + instances.reduce((sum, node) => sum + node.worst, 0) - Math.min(...instances.map((node) => node.worst));
        expect(total).toBeLessThanOrEqual(bound);
        for (const node of instances) expect(node.admitted).toBeLessThanOrEqual(max);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the count exact on one instance whatever the flushes (no overshoot without other instances)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (flushes) => {
        const { book, limit } = instance({ limit: 25 });
        const table = new Table();
        let total = 0;
        for (const flush of flushes) {
          if (flush) table.apply(book, T0 + 1);
          else total += admitted(limit, 'app', 1, T0 + 1);
        }
        table.apply(book, T0 + 2);
        expect(total).toBe(Math.min(25, flushes.filter((flush) => !flush).length));
        expect(table.count('token-client:app', T0)).toBe(total);
      }),
    );
  });

  it('when a flush fails, keeps the hits and sends them with the next one, counting locally meanwhile', () => {
    const { book, limit } = instance({ limit: 10 });
    const table = new Table();
    admitted(limit, 'app', 4, T0);
    const failed = book.beginFlush(T0 + 1)!;
    admitted(limit, 'app', 2, T0 + 2);
    book.failFlush(failed, T0 + 3);
    expect(admitted(limit, 'app', 10, T0 + 4)).toBe(4);
    table.apply(book, T0 + 5);
    expect(table.count('token-client:app', T0)).toBe(10);
  });

  it("writes a finished window's unsent hits to that window, and counts the new window from zero", () => {
    const { book, limit } = instance({ limit: 3 });
    const table = new Table();
    admitted(limit, 'app', 3, T0 + 59_000);
    expect(admitted(limit, 'app', 3, T0 + MINUTE + 1)).toBe(3);
    table.apply(book, T0 + MINUTE + 2);
    expect(table.count('token-client:app', T0)).toBe(3);
    expect(table.count('token-client:app', T0 + MINUTE)).toBe(3);
  });

  it('keeps at most MAX_COUNTERS_PER_LIMIT counters per limit, dropping finished windows first', () => {
    const { limit } = instance({ limit: 5 });
    for (let i = 0; i < MAX_COUNTERS_PER_LIMIT + 10; i++) limit.take(`203.0.${i}`, T0);
    expect(limit.size).toBeLessThanOrEqual(MAX_COUNTERS_PER_LIMIT);
    limit.take('late', T0 + MINUTE);
    expect(limit.size).toBeLessThanOrEqual(MAX_COUNTERS_PER_LIMIT);
    expect(limit.take('late', T0 + MINUTE)).toMatchObject({ allowed: true, count: 2 });
  });

  it('forgets an id on request: its next hit starts from zero', () => {
    const { limit } = instance({ limit: 2 });
    admitted(limit, 'app', 2, T0);
    limit.forget('app');
    expect(limit.take('app', T0)).toMatchObject({ allowed: true, count: 1 });
  });

  it('reports the global count of every flushed id to onGlobalCount', () => {
    const seen: [string, number][] = [];
    const a = instance({ limit: 10, onGlobalCount: (id, count) => seen.push([id, count]) });
    const b = instance({ limit: 10 });
    const table = new Table();
    admitted(b.limit, 'app', 4, T0);
    table.apply(b.book, T0 + 1);
    admitted(a.limit, 'app', 3, T0 + 2);
    table.apply(a.book, T0 + 3);
    expect(seen).toEqual([['app', 7]]);
  });
});

describe('WindowLimit in exact mode (waits for the flush)', () => {
  const exact = () => instance({ name: 'login', limit: 4, mode: 'exact' });

  it('decides each waiting hit from the global count PostgreSQL returns, across instances, with no overshoot', async () => {
    const a = exact();
    const b = exact();
    const table = new Table();
    const fromA = [a.limit.takeExact('203.0.113.7', T0), a.limit.takeExact('203.0.113.7', T0)];
    const fromB = [b.limit.takeExact('203.0.113.7', T0), b.limit.takeExact('203.0.113.7', T0), b.limit.takeExact('203.0.113.7', T0)];
    table.apply(b.book, T0 + 1);
    table.apply(a.book, T0 + 2);
    expect((await Promise.all(fromB)).map((d) => [d.allowed, d.count])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
    ]);
    expect((await Promise.all(fromA)).map((d) => [d.allowed, d.count])).toEqual([
      [true, 4],
      [false, 5],
    ]);
  });

  it('refuses at once, without waiting, once this instance knows the window is full', async () => {
    const { book, limit } = exact();
    const table = new Table();
    const first = Array.from({ length: 4 }, () => limit.takeExact('addr', T0));
    table.apply(book, T0 + 1);
    await Promise.all(first);
    const refused = await limit.takeExact('addr', T0 + 2);
    expect(refused).toMatchObject({ allowed: false, count: 4, retryAfter: 60 });
    expect(book.beginFlush(T0 + 3)).toBeUndefined();
  });

  it('wakes the flusher when a hit waits', () => {
    let woken = 0;
    const book = new CounterBook(() => woken++);
    const limit = book.add({ name: 'register', limit: 3, windowSeconds: 60, mode: 'exact' });
    void limit.takeExact('addr', T0);
    expect(woken).toBe(1);
  });

  it('decides waiting hits locally when the flush fails (failing open to local counting) and still writes them later', async () => {
    const a = exact();
    const b = exact();
    const table = new Table();
    const fromB = b.limit.takeExact('addr', T0);
    table.apply(b.book, T0 + 1);
    expect(await fromB).toMatchObject({ allowed: true, count: 1 });
    const waiting = Array.from({ length: 3 }, () => a.limit.takeExact('addr', T0 + 2));
    a.book.failFlush(a.book.beginFlush(T0 + 3)!, T0 + 4);
    expect((await Promise.all(waiting)).map((d) => [d.allowed, d.count])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
    ]);
    table.apply(a.book, T0 + 5);
    expect(table.count('login:addr', T0)).toBe(4);
    expect(await a.limit.takeExact('addr', T0 + 6)).toMatchObject({ allowed: false, count: 4 });
  });
});
