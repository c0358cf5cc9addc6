/**
 * Runs a refresh on demand for callers that need one that started after they asked (to
 * find a row another instance created moments ago, say). Everyone asking at the same time
 * shares one run, and runs start at most once per `intervalMs` however many callers ask,
 * so a flood of requests costs the database one query per interval.
 */
export class CoalescedRefresh {
  private lastStart = Number.NEGATIVE_INFINITY;
  /** The run in progress. */
  private current: Promise<void> | undefined;
  /** The next run, shared by every caller since `current` started. */
  private next: Promise<void> | undefined;

  constructor(
    private readonly refresh: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Resolves when a run that started after this call has finished (rejects if it failed). */
  request(): Promise<void> {
    this.next ??= this.schedule();
    return this.next;
  }

  private async schedule(): Promise<void> {
    await this.current?.catch(() => undefined);
    const wait = this.lastStart + this.intervalMs - this.clock();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
    // Callers from here on need a later run than this one.
    this.next = undefined;
    this.lastStart = this.clock();
    const run = this.refresh();
    this.current = run;
    try {
      await run;
    } finally {
      if (this.current === run) this.current = undefined;
    }
  }
}
