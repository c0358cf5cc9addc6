import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditLog } from '../audit/audit-log';
import { AppConfig } from '../config/configuration';
import { OAuthError, notFound } from '../common/oauth-error';
import { hashPassword, verifyPassword } from './password-hasher';
import { User } from './user.entity';

export interface NewUser {
  username: string;
  password: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  phone_number?: string;
}

export type LoginResult = { ok: true; user: User } | { ok: false; reason: 'invalid_credentials' | 'locked' | 'disabled' };

/** Where a sign-in attempt comes from, for the audit log. */
export interface LoginContext {
  via: 'login_page' | 'password_grant';
  clientId?: string;
  remoteAddress?: string;
}

/** Ends what a disabled user may still use (sessions, grants); registered by the modules that own it. */
export type UserDisabledHook = (userId: string) => Promise<void>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const invalidUser = (description: string) => new OAuthError('invalid_request', description);

/** Owns users: creation with argon2id hashes, lookup, disabling, and login with lockout. */
@Injectable()
export class UsersService implements OnModuleInit {
  /** A real hash to verify against when the username is unknown, so timing reveals nothing. */
  private decoyHash = '';
  private readonly disabledHooks: UserDisabledHook[] = [];

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly config: AppConfig,
    private readonly audit: AuditLog,
  ) {}

  async onModuleInit(): Promise<void> {
    this.decoyHash = await hashPassword('gatehouse-decoy-password');
  }

  async create(input: unknown): Promise<User> {
    const data = this.validateNewUser(input);
    const existing = await this.users.createQueryBuilder('u').where('lower(u.username) = lower(:username)', { username: data.username }).getExists();
    if (existing) throw invalidUser(`username ${data.username} is taken`);
    const user = this.users.create({
      username: data.username,
      email: data.email ?? null,
      emailVerified: data.email_verified ?? false,
      name: data.name ?? null,
      givenName: data.given_name ?? null,
      familyName: data.family_name ?? null,
      phoneNumber: data.phone_number ?? null,
      passwordHash: await hashPassword(data.password),
    });
    try {
      await this.users.insert(user);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw invalidUser(`username ${data.username} is taken`);
      throw error;
    }
    return this.users.findOneByOrFail({ id: user.id });
  }

  async list(): Promise<User[]> {
    return this.users.find({ order: { createdAt: 'ASC' } });
  }

  async findBySubject(subject: string): Promise<User | null> {
    return UUID.test(subject) ? this.users.findOneBy({ id: subject }) : null;
  }

  /** By subject or, failing that, by username (case-insensitive). */
  async get(subjectOrUsername: string): Promise<User> {
    const user =
      (await this.findBySubject(subjectOrUsername)) ??
      (await this.users.createQueryBuilder('u').where('lower(u.username) = lower(:name)', { name: subjectOrUsername }).getOne());
    if (!user) throw notFound(`no user ${subjectOrUsername}`);
    return user;
  }

  /** Registers work to run once a user is disabled (every time, so disabling again finishes what a crash interrupted). */
  onDisabled(hook: UserDisabledHook): void {
    this.disabledHooks.push(hook);
  }

  /** Disabling a user also ends their sessions and grants, through the hooks registered. */
  async setDisabled(subjectOrUsername: string, disabled: boolean): Promise<User> {
    const user = await this.get(subjectOrUsername);
    await this.users.update({ id: user.id }, { disabled });
    if (disabled) for (const hook of this.disabledHooks) await hook(user.id);
    return this.get(user.id);
  }

  /**
   * Checks a username and password. Failures are counted in the database (so the
   * lockout holds across instances); after LOGIN_MAX_FAILURES the account is locked for
   * LOGIN_LOCKOUT. Unknown usernames cost the same hash verification as known ones.
   * Every attempt is audited; the typed username only as the account's subject (an
   * unknown "username" may be a password typed into the wrong field).
   */
  async login(username: string, password: string, context: LoginContext = { via: 'login_page' }): Promise<LoginResult> {
    const { via, ...where } = context;
    const user = await this.users.createQueryBuilder('u').addSelect('u.passwordHash').where('lower(u.username) = lower(:username)', { username }).getOne();
    if (!user) {
      await verifyPassword(this.decoyHash, password);
      void this.audit.record('login.failed', { ...where, details: { via, reason: 'unknown_username' } });
      return { ok: false, reason: 'invalid_credentials' };
    }
    const valid = await verifyPassword(user.passwordHash, password);
    if (user.lockedUntil && user.lockedUntil.getTime() > Date.now()) {
      void this.audit.record('login.locked', { ...where, subject: user.id, details: { via, locked_until: user.lockedUntil.toISOString() } });
      return { ok: false, reason: 'locked' };
    }
    if (!valid) {
      const lockedUntil = await this.recordFailure(user.id);
      void this.audit.record('login.failed', { ...where, subject: user.id, details: { via, reason: 'wrong_password' } });
      if (lockedUntil) void this.audit.record('account.locked', { ...where, subject: user.id, details: { via, locked_until: lockedUntil.toISOString() } });
      return { ok: false, reason: 'invalid_credentials' };
    }
    if (user.disabled) {
      void this.audit.record('login.failed', { ...where, subject: user.id, details: { via, reason: 'disabled' } });
      return { ok: false, reason: 'disabled' };
    }
    await this.users.update({ id: user.id }, { failedLoginCount: 0, lockedUntil: null, lastLoginAt: new Date() });
    void this.audit.record('login.succeeded', { ...where, subject: user.id, details: { via } });
    return { ok: true, user };
  }

  /** Counts a failed sign-in; returns the end of the lockout when this failure locked the account. */
  private async recordFailure(userId: string): Promise<Date | undefined> {
    // One statement, so concurrent failures on several instances all count. Reaching the
    // limit locks the account and starts the counter again for after the lock.
    const reachesLimit = `failed_login_count + 1 >= ${this.config.loginMaxFailures}`;
    const result = await this.users
      .createQueryBuilder()
      .update(User)
      .set({
        failedLoginCount: () => `CASE WHEN ${reachesLimit} THEN 0 ELSE failed_login_count + 1 END`,
        lockedUntil: () => `CASE WHEN ${reachesLimit} THEN now() + make_interval(secs => ${this.config.loginLockoutSeconds}) ELSE locked_until END`,
      })
      .where('id = :id', { id: userId })
      .returning('failed_login_count, locked_until')
      .execute();
    const [row] = result.raw as { failed_login_count: number; locked_until: Date | null }[];
    return row?.failed_login_count === 0 && row.locked_until ? new Date(row.locked_until) : undefined;
  }

  private validateNewUser(input: unknown): NewUser {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalidUser('user must be a JSON object');
    const data = input as Record<string, unknown>;
    const text = (name: string, required: boolean, max = 255): string | undefined => {
      const value = data[name];
      if (value === undefined || value === null) {
        if (required) throw invalidUser(`${name} is required`);
        return undefined;
      }
      if (typeof value !== 'string' || value.length === 0 || value.length > max)
        throw invalidUser(`${name} must be a non-empty string of at most ${max} characters`);
      return value;
    };
    const username = text('username', true)!;
    if (/\s/.test(username) || /\p{Cc}/u.test(username)) throw invalidUser('username must not contain spaces or control characters');
    const password = text('password', true, 1024)!;
    if (password.length < 8) throw invalidUser('password must be at least 8 characters');
    const email = text('email', false);
    if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) throw invalidUser('email is not an email address');
    if (data.email_verified !== undefined && typeof data.email_verified !== 'boolean') throw invalidUser('email_verified must be true or false');
    return {
      username,
      password,
      email,
      email_verified: data.email_verified as boolean | undefined,
      name: text('name', false),
      given_name: text('given_name', false),
      family_name: text('family_name', false),
      phone_number: text('phone_number', false, 64),
    };
  }
}
