/**
 * The arithmetic of Gatehouse's shared rate limits, with no database and no timers, so
 * that it can be tested on its own. `SharedCounters` drives it: every few hundred
 * milliseconds it takes a batch (`beginFlush`), writes it to PostgreSQL in one statement
 * and hands back the global counts (`completeFlush`), or reports that the database could
 * not be reached (`failFlush`).
 *
 * Windows are fixed and aligned to the epoch (a 60 s window starts at every whole minute),
 * so every instance agrees on them without talking to the others. A counter's estimate is
 * the global count this instance last heard of, plus what it has sent but not heard back
 * about, plus what it counted since.
 */

export interface LimitRule {
  /** Names the counter in the database (`<name>:<id>`). */
  readonly name: string;
  /** Hits allowed per window and id; 0 turns the limit off. */
  readonly limit: number;
  readonly windowSeconds: number;
  /**
   * `local`: decided at once, in memory, from the estimate; limits hold across instances up
   * to a bounded overshoot (see README, "Rate limits and lockouts"). `exact`: the hit waits
   * for the next flush and is decided from the count PostgreSQL returns; no overshoot.
   */
  readonly mode: 'local' | 'exact';
  /** Called with an id's global count whenever a flush returns it (e.g. to start a lockout). */
  readonly onGlobalCount?: (id: string, count: number) => void;
}

export interface Decision {
  allowed: boolean;
  /** The hit's place in its window (this hit included), as far as this instance knows. */
  count: number;
  /** Whole seconds until the window ends, at least 1: the `Retry-After` of a refusal. */
  retryAfter: number;
}

/** One row of a flush: hits of `key` in the window starting at `windowStart` (ms); 0 hits re-reads the count. */
export interface FlushRow {
  readonly key: string;
  readonly windowStart: number;
  readonly hits: number;
  /** When the window ends (ms): after that the row may be purged. */
  readonly expiresAt: number;
}

/** What PostgreSQL returned for a row: the window's global count. */
export interface FlushResult {
  key: string;
  windowStart: number;
  hits: number;
}

/** Each instance keeps at most this many counters per limit; beyond it the oldest are dropped (failing open for them). */
export const MAX_COUNTERS_PER_LIMIT = 100_000;

const OFF: Decision = Object.freeze({ allowed: true, count: 0, retryAfter: 0 });

export interface Waiter {
  /** 1-based place of the hit among the hits of its row. */
  seq: number;
  resolve: (decision: Decision) => void;
}

export interface Counter {
  readonly id: string;
  readonly key: string;
  /** Start of the window the numbers below are about (ms). */
  window: number;
  /** Global count of `window` at the last flush that returned it (our flushed hits included). */
  global: number;
  /** Hits of `window` in the flush in flight. */
  sent: number;
  /** Hits of `window` not sent yet. */
  local: number;
  /** The row collecting the unsent hits of `window`, if any. */
  row: PendingRow | undefined;
}

export interface PendingRow {
  readonly counter: Counter;
  readonly window: number;
  hits: number;
  waiters: Waiter[];
  /** The counter's global count when the row was sent (for deciding waiters if the flush fails). */
  base: number;
}

/** A flush in progress: one row per key and window, and the pending rows each stands for. */
export interface FlushBatch {
  readonly rows: FlushRow[];
  /** Parallel to `rows`: the pending rows merged into each, in the order they were counted. */
  readonly sources: { limit: WindowLimit; row: PendingRow }[][];
}

const windowStart = (now: number, windowMs: number): number => Math.floor(now / windowMs) * windowMs;
const secondsLeft = (window: number, windowMs: number, now: number): number => Math.max(1, Math.ceil((window + windowMs - now) / 1000));

/** The counters of one rule, per id (a client, an address, ...). */
export class WindowLimit {
  readonly windowMs: number;
  private readonly counters = new Map<string, Counter>();
  /** Rows with unsent hits, in the order they were started. */
  private pending: PendingRow[] = [];
  /** Counters of local-mode rules close to their limit: their global count is re-read at every flush. */
  private readonly watched = new Set<Counter>();
  private nextSweep = 0;

  constructor(
    readonly rule: LimitRule,
    /** Called when an exact-mode hit waits, so that a flush starts soon. */
    private readonly wake: () => void = () => undefined,
  ) {
    if (!/^[a-z][a-z0-9-]*$/.test(rule.name)) throw new Error(`rate limit name ${rule.name} must be lower-case letters, digits and dashes`);
    if (!(rule.windowSeconds > 0)) throw new Error(`rate limit ${rule.name} needs a positive window`);
    this.windowMs = rule.windowSeconds * 1000;
  }

  get enabled(): boolean {
    return this.rule.limit > 0;
  }

  /**
   * Counts a hit and decides it at once from this instance's estimate (local mode). A
   * refused hit is not counted. Costs a Map lookup and a few additions.
   */
  take(id: string, now = Date.now()): Decision {
    const { limit } = this.rule;
    if (limit === 0) return OFF;
    const counter = this.counter(id, now);
    const estimate = counter.global + counter.sent + counter.local;
    if (estimate >= limit) return { allowed: false, count: estimate, retryAfter: secondsLeft(counter.window, this.windowMs, now) };
    this.count(counter);
    if ((estimate + 1) * 2 >= limit && estimate + 1 < limit) this.watched.add(counter);
    return { allowed: true, count: estimate + 1, retryAfter: secondsLeft(counter.window, this.windowMs, now) };
  }

  /**
   * Counts a hit and decides it from the global count the next flush returns (exact mode):
   * no overshoot across instances. Refused at once, without waiting, when this instance
   * already knows the window is full. If the flush fails, the hit is decided from the
   * estimate (failing open to local counting).
   */
  takeExact(id: string, now = Date.now()): Promise<Decision> {
    const { limit } = this.rule;
    if (limit === 0) return Promise.resolve(OFF);
    const counter = this.counter(id, now);
    const estimate = counter.global + counter.sent + counter.local;
    if (estimate >= limit) return Promise.resolve({ allowed: false, count: estimate, retryAfter: secondsLeft(counter.window, this.windowMs, now) });
    const row = this.count(counter);
    const decided = new Promise<Decision>((resolve) => row.waiters.push({ seq: row.hits, resolve }));
    this.wake();
    return decided;
  }

  /** Forgets what this instance knows about `id` (after an operator reset it). */
  forget(id: string): void {
    const counter = this.counters.get(id);
    if (!counter) return;
    this.counters.delete(id);
    this.watched.delete(counter);
  }

  /** How many ids this instance currently tracks. */
  get size(): number {
    return this.counters.size;
  }

  /** Hands the unsent hits, and the counters to re-read, to a flush. */
  collect(take: (limit: WindowLimit, row: PendingRow) => void, now: number): void {
    const rows = this.pending;
    this.pending = [];
    for (const row of rows) {
      const counter = row.counter;
      if (counter.row === row) {
        counter.row = undefined;
        counter.local -= row.hits;
        counter.sent += row.hits;
        row.base = counter.global;
      }
      take(this, row);
    }
    const current = windowStart(now, this.windowMs);
    for (const counter of this.watched) {
      if (counter.window !== current || this.counters.get(counter.id) !== counter) {
        this.watched.delete(counter);
        continue;
      }
      if (counter.sent > 0) continue; // its count comes back with the hits just collected
      take(this, { counter, window: counter.window, hits: 0, waiters: [], base: counter.global });
    }
    if (now >= this.nextSweep) this.sweep(now);
  }

  /**
   * Takes what PostgreSQL returned for one of this limit's rows: `before` is the global
   * count before the row's hits, `total` the window's count after the statement.
   */
  completed(row: PendingRow, before: number, total: number, now: number): void {
    const counter = row.counter;
    const current = counter.window === row.window && this.counters.get(counter.id) === counter;
    this.decideWaiters(row, before, now);
    if (!current) return;
    counter.sent -= row.hits;
    counter.global = Math.max(counter.global, total);
    const estimate = counter.global + counter.sent + counter.local;
    if (estimate >= this.rule.limit || this.rule.mode === 'exact') this.watched.delete(counter);
    else if (estimate * 2 >= this.rule.limit) this.watched.add(counter);
    try {
      this.rule.onGlobalCount?.(counter.id, total);
    } catch {
      // A listener's failure must not stop the rest of the batch from being decided.
    }
  }

  /** The flush did not reach PostgreSQL: the hits go back to be sent again; waiting hits are decided locally. */
  failed(row: PendingRow, now: number): void {
    const counter = row.counter;
    const current = counter.window === row.window && this.counters.get(counter.id) === counter;
    this.decideWaiters(row, row.base, now);
    if (!current) return; // a window that is over, or a counter that was dropped: nothing to keep
    counter.sent -= row.hits;
    if (row.hits === 0) return;
    counter.local += row.hits;
    const next = counter.row;
    if (next) {
      // Hits counted while the flush was in flight come after the ones that failed.
      next.hits += row.hits;
      for (const waiter of next.waiters) waiter.seq += row.hits;
    } else {
      counter.row = { counter, window: row.window, hits: row.hits, waiters: [], base: 0 };
      this.pending.push(counter.row);
    }
  }

  private decideWaiters(row: PendingRow, before: number, now: number): void {
    for (const { seq, resolve } of row.waiters) {
      const count = before + seq;
      resolve({ allowed: count <= this.rule.limit, count, retryAfter: secondsLeft(row.window, this.windowMs, now) });
    }
    row.waiters = [];
  }

  private counter(id: string, now: number): Counter {
    const window = windowStart(now, this.windowMs);
    let counter = this.counters.get(id);
    if (counter === undefined) {
      if (this.counters.size >= MAX_COUNTERS_PER_LIMIT) this.makeRoom(now);
      counter = { id, key: `${this.rule.name}:${id}`, window, global: 0, sent: 0, local: 0, row: undefined };
      this.counters.set(id, counter);
    } else if (counter.window !== window) {
      // A new window: the old one's unsent hits are still written (their row keeps its window).
      if (counter.row) counter.row.base = counter.global;
      counter.window = window;
      counter.global = 0;
      counter.sent = 0;
      counter.local = 0;
      counter.row = undefined;
      this.watched.delete(counter);
    }
    return counter;
  }

  private count(counter: Counter): PendingRow {
    counter.local++;
    let row = counter.row;
    if (row === undefined) {
      row = { counter, window: counter.window, hits: 0, waiters: [], base: 0 };
      counter.row = row;
      this.pending.push(row);
    }
    row.hits++;
    return row;
  }

  /** Drops counters whose window is over and that have nothing to send. */
  private sweep(now: number): void {
    this.nextSweep = now + Math.min(this.windowMs, 5000);
    for (const [id, counter] of this.counters) {
      if (counter.window + this.windowMs <= now && counter.row === undefined && counter.sent === 0) {
        this.counters.delete(id);
        this.watched.delete(counter);
      }
    }
  }

  private makeRoom(now: number): void {
    if (now >= this.nextSweep) this.sweep(now);
    // Still full (an attack from very many addresses): drop the oldest counters.
    for (const [id, counter] of this.counters) {
      if (this.counters.size < MAX_COUNTERS_PER_LIMIT) break;
      this.counters.delete(id);
      this.watched.delete(counter);
    }
  }
}

/** Every limit of an instance, flushed together. */
export class CounterBook {
  private readonly limits: WindowLimit[] = [];

  constructor(private readonly wake: () => void = () => undefined) {}

  add(rule: LimitRule): WindowLimit {
    if (this.limits.some((limit) => limit.rule.name === rule.name)) throw new Error(`rate limit ${rule.name} is defined twice`);
    const limit = new WindowLimit(rule, this.wake);
    this.limits.push(limit);
    return limit;
  }

  /** Everything to write (and re-read) now, one row per key and window, or undefined when there is nothing to do. */
  beginFlush(now: number): FlushBatch | undefined {
    const batch: FlushBatch = { rows: [], sources: [] };
    const index = new Map<string, number>();
    const take = (limit: WindowLimit, row: PendingRow): void => {
      const key = row.counter.key;
      const id = `${row.window}|${key}`;
      const at = index.get(id);
      if (at === undefined) {
        index.set(id, batch.rows.length);
        batch.rows.push({ key, windowStart: row.window, hits: row.hits, expiresAt: row.window + limit.windowMs });
        batch.sources.push([{ limit, row }]);
      } else {
        // The same key twice (a counter dropped and started again while its hits waited): one row.
        const merged = batch.rows[at];
        batch.rows[at] = { ...merged, hits: merged.hits + row.hits };
        batch.sources[at].push({ limit, row });
      }
    };
    for (const limit of this.limits) if (limit.enabled) limit.collect(take, now);
    return batch.rows.length > 0 ? batch : undefined;
  }

  completeFlush(batch: FlushBatch, results: FlushResult[], now: number): void {
    const totals = new Map<string, number>();
    for (const result of results) totals.set(`${result.windowStart}|${result.key}`, result.hits);
    batch.rows.forEach((flushed, index) => {
      const total = totals.get(`${flushed.windowStart}|${flushed.key}`);
      const sources = batch.sources[index];
      if (total === undefined) {
        // Nothing stored for a row that only re-read its count (purged, or reset by an operator).
        for (const { limit, row } of sources) limit.completed(row, row.base, row.base, now);
        return;
      }
      let before = total - flushed.hits;
      for (const { limit, row } of sources) {
        limit.completed(row, before, total, now);
        before += row.hits;
      }
    });
  }

  failFlush(batch: FlushBatch, now: number): void {
    for (const sources of batch.sources) for (const { limit, row } of sources) limit.failed(row, now);
  }
}
