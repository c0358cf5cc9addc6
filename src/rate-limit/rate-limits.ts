import { Injectable } from '@nestjs/common';
import { OAuthError } from '../common/oauth-error';
import { AppConfig } from '../config/configuration';
import { SharedCounters } from './shared-counters';
import { Decision, WindowLimit } from './window-counters';

const MINUTE = 60;

/**
 * Gatehouse's request rate limits, per minute and shared by every instance. The token
 * endpoint's are decided in memory (no database round trip on the way of a token); sign-in
 * and registration wait for the next batched flush and are exact across instances, since
 * those requests go to the database anyway.
 */
@Injectable()
export class RateLimits {
  /** Every token request of an authenticated client (TOKEN_RATE_LIMIT_PER_CLIENT). */
  readonly tokenPerClient: WindowLimit;
  /** Every token request from an address, before client authentication (TOKEN_RATE_LIMIT_PER_ADDRESS). */
  readonly tokenPerAddress: WindowLimit;
  /** Password checks from an address: the login form and the password grant (LOGIN_RATE_LIMIT). */
  readonly signIn: WindowLimit;
  /** Dynamic client registrations from an address (REGISTRATION_RATE_LIMIT). */
  readonly registration: WindowLimit;

  constructor(counters: SharedCounters, config: AppConfig) {
    this.tokenPerClient = counters.define({ name: 'token-client', limit: config.tokenRateLimitPerClient, windowSeconds: MINUTE, mode: 'local' });
    this.tokenPerAddress = counters.define({ name: 'token-address', limit: config.tokenRateLimitPerAddress, windowSeconds: MINUTE, mode: 'local' });
    this.signIn = counters.define({ name: 'login', limit: config.loginRateLimit, windowSeconds: MINUTE, mode: 'exact' });
    this.registration = counters.define({ name: 'register', limit: config.registrationRateLimit, windowSeconds: MINUTE, mode: 'exact' });
  }
}

/**
 * Throws the 429 answer of a refused decision: `too_many_requests` (the code Gatehouse uses
 * for every rate limit) with `Retry-After` in seconds.
 */
export function enforce(decision: Decision, description: string): void {
  if (decision.allowed) return;
  throw new OAuthError('too_many_requests', description, 429, { 'Retry-After': String(decision.retryAfter) });
}
