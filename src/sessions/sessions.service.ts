import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { createHmac } from 'node:crypto';
import { constantTimeEqual, randomToken, sha256 } from '../common/crypto';
import { ServerSecrets } from '../secrets/server-secrets';
import { Session } from './session.entity';

/** A session and the cookie value that names it (only when it was just created). */
export interface IssuedSession {
  session: Session;
  cookieValue: string;
}

/** Re-recording `last_seen_at` more often than this would cost a write per page for nothing. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Browser sessions in PostgreSQL, so they survive restarts and are shared by every
 * instance. A session ends at its absolute lifetime, after SESSION_IDLE_TTL without use,
 * or at logout. Signing in replaces the session (a new cookie value), so a cookie planted
 * before login is worthless after it (session fixation).
 */
@Injectable()
export class SessionsService {
  constructor(
    @InjectRepository(Session) private readonly sessions: Repository<Session>,
    private readonly config: AppConfig,
    private readonly secrets: ServerSecrets,
  ) {}

  /** The live session named by a cookie value, if any. */
  async resolve(cookieValue: string | undefined): Promise<Session | undefined> {
    if (!cookieValue || cookieValue.length > 128) return undefined;
    const session = await this.sessions.findOneBy({ tokenHash: sha256(cookieValue), endedAt: IsNull() });
    if (!session) return undefined;
    const now = Date.now();
    if (session.expiresAt.getTime() <= now || session.lastSeenAt.getTime() + this.config.sessionIdleTtl * 1000 <= now) return undefined;
    if (now - session.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
      session.lastSeenAt = new Date(now);
      await this.sessions.update({ id: session.id }, { lastSeenAt: session.lastSeenAt });
    }
    return session;
  }

  /** A new anonymous session: it carries the CSRF token of the login form. */
  async start(): Promise<IssuedSession> {
    return this.create(null, null);
  }

  /** Replaces `previous` with an authenticated session for `userId`. */
  async signIn(previous: Session | undefined, userId: string): Promise<IssuedSession> {
    if (previous) await this.end(previous.id);
    return this.create(userId, new Date());
  }

  /** The sessions of a user that have not ended (some may have expired). */
  async liveSessionsOf(userId: string): Promise<Session[]> {
    return this.sessions.findBy({ userId, endedAt: IsNull() });
  }

  async end(sessionId: string): Promise<void> {
    await this.sessions.update({ id: sessionId, endedAt: IsNull() }, { endedAt: new Date() });
  }

  /** The OP browser state of Session Management 1.0: stable per session (also across key-encryption-key rotations), not derivable without the server's derivation key. */
  browserState(sessionId: string): string {
    return createHmac('sha256', this.secrets.derivationKey()).update(`opbs:${sessionId}`).digest('base64url').slice(0, 22);
  }

  /** Whether a submitted CSRF token is this session's (constant time). */
  csrfMatches(session: Session, submitted: string | undefined): boolean {
    return typeof submitted === 'string' && constantTimeEqual(submitted, session.csrfToken);
  }

  private async create(userId: string | null, authTime: Date | null): Promise<IssuedSession> {
    const cookieValue = randomToken();
    const now = new Date();
    const session = this.sessions.create({
      tokenHash: sha256(cookieValue),
      userId,
      csrfToken: randomToken(),
      authTime,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + this.config.sessionTtl * 1000),
      endedAt: null,
    });
    await this.sessions.save(session);
    return { session, cookieValue };
  }
}
