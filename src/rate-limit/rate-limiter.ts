import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface RateLimitResult {
  allowed: boolean;
  /** Seconds until the window resets, for Retry-After. */
  retryAfter: number;
}

/**
 * Fixed-window counters in PostgreSQL, so a limit holds across every instance: one
 * upsert per hit, which starts a new window when the old one is over.
 */
@Injectable()
export class RateLimiter {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitResult> {
    const rows: { hits: number; window_start: Date }[] = await this.db.query(
      `INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, now(), 1)
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN rate_limits.window_start > now() - make_interval(secs => $2) THEN rate_limits.hits + 1 ELSE 1 END,
         window_start = CASE WHEN rate_limits.window_start > now() - make_interval(secs => $2) THEN rate_limits.window_start ELSE now() END
       RETURNING hits, window_start`,
      [key, windowSeconds],
    );
    const { hits, window_start: windowStart } = rows[0];
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + windowSeconds * 1000 - Date.now()) / 1000));
    return { allowed: hits <= limit, retryAfter };
  }
}
