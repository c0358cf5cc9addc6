import { Module } from '@nestjs/common';
import { RateLimits } from './rate-limits';
import { SharedCounters } from './shared-counters';

/** Rate-limit counters shared by all instances through PostgreSQL, and the limits Gatehouse applies. */
@Module({
  providers: [SharedCounters, RateLimits],
  exports: [SharedCounters, RateLimits],
})
export class RateLimitModule {}
