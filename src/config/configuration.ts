import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** A setting that is missing or malformed: the message names it in one line. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

export type Environment = Record<string, string | undefined>;

/**
 * Gatehouse's settings, read once from the environment and validated at start-up.
 * Everything else receives this object by injection; nobody reads process.env.
 */
export abstract class AppConfig {
  abstract readonly production: boolean;
  /** Public base URL; the `iss` of every token. No trailing slash. */
  abstract readonly issuer: string;
  abstract readonly port: number;
  abstract readonly host: string;
  /** HTTP worker processes sharing the port (Node cluster); 1 means no cluster. */
  abstract readonly workers: number;
  /** PostgreSQL server URL; undefined means the embedded engine in `dataDir`. */
  abstract readonly databaseUrl: string | undefined;
  abstract readonly databasePoolSize: number;
  /** Local folder for the embedded database and generated development secrets. */
  abstract readonly dataDir: string;
  abstract readonly runMigrations: boolean;
  /** The key-encryption key that seals (and opens) secrets at rest. */
  abstract readonly keyEncryptionKey: Buffer;
  /** Further keys that only open sealed values: the previous key while a rotation is under way. */
  abstract readonly previousKeyEncryptionKeys: Buffer[];
  /** True when the key-encryption key was generated into the data folder (development only). */
  abstract readonly keyEncryptionKeyGenerated: boolean;
  abstract readonly accessTokenTtl: number;
  abstract readonly refreshTokenTtl: number;
  abstract readonly refreshTokenReuseGrace: number;
  /** Default `aud` of access tokens; clients may override it in their metadata. */
  abstract readonly accessTokenAudience: string;
  abstract readonly accessTokenSigningAlg: 'ES256' | 'RS256' | 'PS256';
  abstract readonly clockSkew: number;
  abstract readonly loginMaxFailures: number;
  abstract readonly loginLockoutSeconds: number;
  /** Seconds a new signing key is published before it signs. */
  abstract readonly keyPublishDelay: number;
  /** How often each instance re-reads keys and revocations as a safety net to notifications. */
  abstract readonly syncIntervalMs: number;
  abstract readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** File the logs are appended to instead of standard output (LOG_FILE); undefined: standard output. */
  abstract readonly logFile: string | undefined;
  /** How often queued audit events are written to PostgreSQL. */
  abstract readonly auditFlushIntervalMs: number;
  /** Audit events kept in memory while PostgreSQL is unreachable; beyond it the oldest are dropped (and counted). */
  abstract readonly auditBufferLimit: number;
  /** How often one instance purges expired rows (the cleanup round). */
  abstract readonly maintenanceIntervalSeconds: number;
  /** Rows deleted per statement (one short transaction) of the cleanup round. */
  abstract readonly maintenanceBatchSize: number;
  /** Batches per table per cleanup round; what is left waits for the next round. */
  abstract readonly maintenanceMaxBatches: number;
  /** Pause between two batches of the cleanup round, so that it yields to the hot paths. */
  abstract readonly maintenanceBatchPauseMs: number;
  /** Absolute lifetime of a browser session. */
  abstract readonly sessionTtl: number;
  /** A session unused for this long ends. */
  abstract readonly sessionIdleTtl: number;
  abstract readonly authorizationCodeTtl: number;
  /** Allow plain-http redirect URIs on hosts other than loopback (development only). */
  abstract readonly allowInsecureRedirectUris: boolean;
  /** Fastify trustProxy: false, true, a hop count, or a list of addresses/CIDRs of trusted proxies. */
  abstract readonly trustProxy: boolean | number | string;
  /** Sign-in attempts (login form and password grant) allowed per client address per minute; 0: no limit. */
  abstract readonly loginRateLimit: number;
  /** Token requests allowed per authenticated client per minute; 0: no limit. */
  abstract readonly tokenRateLimitPerClient: number;
  /** Token requests allowed per client address per minute; 0: no limit. */
  abstract readonly tokenRateLimitPerAddress: number;
  /** Failed secret authentications of one client (within CLIENT_AUTH_LOCKOUT) that lock its secret path; 0: never. */
  abstract readonly clientAuthMaxFailures: number;
  /** How long a client's secret path stays locked, and the window its failures are counted in. */
  abstract readonly clientAuthLockoutSeconds: number;
  /** How often each instance writes its rate-limit counters to PostgreSQL and reads the global counts. */
  abstract readonly rateLimitSyncIntervalMs: number;
  /** RFC 7591 dynamic client registration at POST /oauth/register (and RFC 7592 management). */
  abstract readonly registrationEnabled: boolean;
  /** When set, registration needs `Authorization: Bearer <this token>` (an RFC 7591 initial access token). */
  abstract readonly registrationInitialAccessToken: string | undefined;
  /** Registration requests allowed per client address per minute; 0: no limit. */
  abstract readonly registrationRateLimit: number;
  /** Whether logging out also revokes grants of the session that asked for offline_access. */
  abstract readonly logoutRevokesOfflineAccess: boolean;
  /** PEM private key of the sample API, to decrypt access tokens encrypted for it (SAMPLE_API_DECRYPTION_KEY, a file). */
  abstract readonly sampleApiDecryptionKey: string | undefined;
  /** Seconds a client has to send a whole request, head and body; slower ones get 408 (REQUEST_TIMEOUT). */
  abstract readonly requestTimeout: number;
  /** Seconds a client has to send the request line and headers, counted from when it connects (HEADERS_TIMEOUT). */
  abstract readonly headersTimeout: number;
  /** Seconds an idle keep-alive connection stays open between requests (KEEP_ALIVE_TIMEOUT). */
  abstract readonly keepAliveTimeout: number;
}

const DURATION = /^(\d+)\s*(s|m|h|d)?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

function duration(env: Environment, name: string, fallback: number, min = 0): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const match = DURATION.exec(raw);
  if (!match) throw new ConfigError(name, `must be a duration in seconds or with a unit (30s, 15m, 12h, 14d), got "${raw}"`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] ?? 's'];
  if (seconds < min) throw new ConfigError(name, `must be at least ${min} seconds, got "${raw}"`);
  return seconds;
}

function integer(env: Environment, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function boolean(env: Environment, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Environment, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

function url(env: Environment, name: string, fallback: string | undefined, protocols: string[]): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be an absolute URL');
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}`);
  return raw;
}

function issuerUrl(env: Environment, port: number): string {
  const value = url(env, 'ISSUER', `http://localhost:${port}`, ['http:', 'https:'])!;
  const parsed = new URL(value);
  if (parsed.search || parsed.hash) throw new ConfigError('ISSUER', 'must not have a query or fragment');
  return value.replace(/\/+$/, '');
}

const KEY_FORMAT = 'must be 32 bytes, as 64 hex digits or 43 base64url characters (openssl rand -hex 32)';

/** A 32-byte key given as 64 hex digits or 43 base64url characters; `what` names it in the error. */
function parseKey(raw: string, setting: string, what = ''): Buffer {
  const key = Buffer.from(raw, /^[0-9a-fA-F]{64}$/.test(raw) ? 'hex' : 'base64url');
  if (key.length !== 32) throw new ConfigError(setting, `${what}${KEY_FORMAT}`);
  return key;
}

function keyEncryptionKey(env: Environment, production: boolean, dataDir: string, embedded: boolean): { key: Buffer; generated: boolean } {
  const raw = env.KEY_ENCRYPTION_KEY?.trim();
  if (raw) return { key: parseKey(raw, 'KEY_ENCRYPTION_KEY'), generated: false };
  if (production || !embedded) {
    throw new ConfigError('KEY_ENCRYPTION_KEY', 'is required with NODE_ENV=production or DATABASE_URL (generate one with: openssl rand -hex 32)');
  }
  const file = join(dataDir, 'key-encryption-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new ConfigError('KEY_ENCRYPTION_KEY', `file ${file} is corrupt: expected 64 hex digits`);
  return { key, generated: true };
}

/** KEY_ENCRYPTION_KEYS_PREVIOUS: comma-separated keys that open values sealed before a rotation, never seal. */
function previousKeyEncryptionKeys(env: Environment): Buffer[] {
  const raw = env.KEY_ENCRYPTION_KEYS_PREVIOUS?.trim();
  if (!raw) return [];
  const entries = raw.split(',').map((entry) => entry.trim());
  return entries.map((entry, index) => parseKey(entry, 'KEY_ENCRYPTION_KEYS_PREVIOUS', entries.length > 1 ? `entry ${index + 1} ` : ''));
}

function trustProxy(env: Environment): boolean | number | string {
  const raw = env.TRUST_PROXY?.trim();
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  if (/^[0-9a-fA-F:.,/\s]+$/.test(raw)) return raw;
  throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count or a comma-separated list of proxy addresses, got "${raw}"`);
}

/** WORKERS: a count, or `auto` for one worker per available core; more than one needs a PostgreSQL server. */
function workers(env: Environment, embedded: boolean): number {
  const raw = env.WORKERS?.trim().toLowerCase();
  const count = raw === 'auto' ? availableParallelism() : integer(env, 'WORKERS', 1, 1, 256);
  if (count > 1 && embedded) throw new ConfigError('WORKERS', 'above 1 needs DATABASE_URL: the embedded database serves a single process');
  return count;
}

/** REGISTRATION_INITIAL_ACCESS_TOKEN: a bearer token (RFC 6750 token68 syntax) long enough not to be guessed. */
function initialAccessToken(env: Environment): string | undefined {
  const raw = env.REGISTRATION_INITIAL_ACCESS_TOKEN?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(raw))
    throw new ConfigError('REGISTRATION_INITIAL_ACCESS_TOKEN', 'may contain only A-Z a-z 0-9 - . _ ~ + / (and trailing =)');
  if (raw.length < 20) throw new ConfigError('REGISTRATION_INITIAL_ACCESS_TOKEN', 'must be at least 20 characters (openssl rand -hex 32)');
  return raw;
}

/** REQUEST_TIMEOUT and HEADERS_TIMEOUT: the headers are part of the request, so their limit cannot be the longer one. */
function requestTimeouts(env: Environment): { requestTimeout: number; headersTimeout: number } {
  const requestTimeout = duration(env, 'REQUEST_TIMEOUT', 30, 1);
  const headersTimeout = duration(env, 'HEADERS_TIMEOUT', Math.min(10, requestTimeout), 1);
  if (headersTimeout > requestTimeout)
    throw new ConfigError('HEADERS_TIMEOUT', `must not exceed REQUEST_TIMEOUT (${requestTimeout} seconds), got ${headersTimeout} seconds`);
  return { requestTimeout, headersTimeout };
}

function privateKeyFile(env: Environment, name: string): string | undefined {
  const path = env[name]?.trim();
  if (!path) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
    createPrivateKey(pem);
  } catch {
    throw new ConfigError(name, `must name a readable file holding a PEM private key, got "${path}"`);
  }
  return pem;
}

/** LOG_FILE: a file in an existing, writable folder (created if missing, then appended to). */
function logFile(env: Environment): string | undefined {
  const raw = env.LOG_FILE?.trim();
  if (!raw) return undefined;
  const path = resolve(raw);
  try {
    accessSync(dirname(path), constants.W_OK);
    if (existsSync(path)) accessSync(path, constants.W_OK);
  } catch {
    throw new ConfigError('LOG_FILE', `must name a writable file in an existing folder, got "${raw}"`);
  }
  return path;
}

/** Reads and validates every setting; throws ConfigError naming the first bad one. */
export function loadConfig(env: Environment = process.env): AppConfig {
  const production = env.NODE_ENV === 'production';
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const issuer = issuerUrl(env, port);
  const databaseUrl = url(env, 'DATABASE_URL', undefined, ['postgres:', 'postgresql:']);
  const dataDir = resolve(env.DATA_DIR?.trim() || 'var/gatehouse');
  const kek = keyEncryptionKey(env, production, dataDir, databaseUrl === undefined);
  const accessTokenTtl = duration(env, 'ACCESS_TOKEN_TTL', 900, 30);
  return {
    production,
    issuer,
    port,
    host: env.HOST?.trim() || '0.0.0.0',
    workers: workers(env, databaseUrl === undefined),
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    dataDir,
    runMigrations: boolean(env, 'MIGRATIONS_RUN', true),
    keyEncryptionKey: kek.key,
    keyEncryptionKeyGenerated: kek.generated,
    previousKeyEncryptionKeys: previousKeyEncryptionKeys(env),
    accessTokenTtl,
    refreshTokenTtl: duration(env, 'REFRESH_TOKEN_TTL', 14 * 86400, 60),
    refreshTokenReuseGrace: duration(env, 'REFRESH_TOKEN_REUSE_GRACE', 0, 0),
    accessTokenAudience: url(env, 'ACCESS_TOKEN_AUDIENCE', `${issuer}/api`, ['http:', 'https:', 'urn:'])!,
    accessTokenSigningAlg: oneOf(env, 'ACCESS_TOKEN_SIGNING_ALG', ['ES256', 'RS256', 'PS256'] as const, 'ES256'),
    clockSkew: duration(env, 'CLOCK_SKEW', 30, 0),
    loginMaxFailures: integer(env, 'LOGIN_MAX_FAILURES', 5, 1, 1000),
    loginLockoutSeconds: duration(env, 'LOGIN_LOCKOUT', 900, 1),
    keyPublishDelay: duration(env, 'KEY_PUBLISH_DELAY', 60, 0),
    syncIntervalMs: integer(env, 'SYNC_INTERVAL_MS', 5000, 100, 600000),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    logFile: logFile(env),
    auditFlushIntervalMs: integer(env, 'AUDIT_FLUSH_INTERVAL_MS', 200, 10, 60000),
    auditBufferLimit: integer(env, 'AUDIT_BUFFER_LIMIT', 50000, 100, 10000000),
    maintenanceIntervalSeconds: duration(env, 'MAINTENANCE_INTERVAL', 60, 1),
    maintenanceBatchSize: integer(env, 'MAINTENANCE_BATCH_SIZE', 5000, 1, 100000),
    maintenanceMaxBatches: integer(env, 'MAINTENANCE_MAX_BATCHES', 20, 1, 100000),
    maintenanceBatchPauseMs: integer(env, 'MAINTENANCE_BATCH_PAUSE_MS', 250, 0, 60000),
    sessionTtl: duration(env, 'SESSION_TTL', 12 * 3600, 60),
    sessionIdleTtl: duration(env, 'SESSION_IDLE_TTL', 3600, 60),
    authorizationCodeTtl: Math.min(duration(env, 'AUTHORIZATION_CODE_TTL', 60, 5), 60),
    allowInsecureRedirectUris: boolean(env, 'ALLOW_INSECURE_REDIRECT_URIS', false),
    trustProxy: trustProxy(env),
    loginRateLimit: integer(env, 'LOGIN_RATE_LIMIT', 30, 0, 1_000_000_000),
    tokenRateLimitPerClient: integer(env, 'TOKEN_RATE_LIMIT_PER_CLIENT', 60_000, 0, 1_000_000_000),
    tokenRateLimitPerAddress: integer(env, 'TOKEN_RATE_LIMIT_PER_ADDRESS', 120_000, 0, 1_000_000_000),
    clientAuthMaxFailures: integer(env, 'CLIENT_AUTH_MAX_FAILURES', 20, 0, 1_000_000),
    clientAuthLockoutSeconds: duration(env, 'CLIENT_AUTH_LOCKOUT', 300, 1),
    rateLimitSyncIntervalMs: integer(env, 'RATE_LIMIT_SYNC_INTERVAL_MS', 250, 10, 60_000),
    registrationEnabled: boolean(env, 'REGISTRATION_ENABLED', true),
    registrationInitialAccessToken: initialAccessToken(env),
    registrationRateLimit: integer(env, 'REGISTRATION_RATE_LIMIT', 20, 0, 1_000_000_000),
    logoutRevokesOfflineAccess: boolean(env, 'LOGOUT_REVOKES_OFFLINE_ACCESS', false),
    sampleApiDecryptionKey: privateKeyFile(env, 'SAMPLE_API_DECRYPTION_KEY'),
    ...requestTimeouts(env),
    keepAliveTimeout: duration(env, 'KEEP_ALIVE_TIMEOUT', 72, 1),
  };
}
