import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, Environment, loadConfig } from './configuration';

const KEK_HEX = 'ab'.repeat(32);
/** A complete environment that needs no file system: the key-encryption key is given. */
const base: Environment = { KEY_ENCRYPTION_KEY: KEK_HEX };

/** The ConfigError `loadConfig(env)` throws (fails the test otherwise). */
function configError(env: Environment): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, the configuration loaded');
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  tmpDirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig defaults', () => {
  it('applies the documented default of every setting', () => {
    const config = loadConfig(base);
    expect(config).toEqual({
      production: false,
      issuer: 'http://localhost:3000',
      port: 3000,
      workers: 1,
      host: '0.0.0.0',
      databaseUrl: undefined,
      databasePoolSize: 10,
      dataDir: resolve('var/gatehouse'),
      runMigrations: true,
      keyEncryptionKey: Buffer.from(KEK_HEX, 'hex'),
      keyEncryptionKeyGenerated: false,
      previousKeyEncryptionKeys: [],
      accessTokenTtl: 900,
      refreshTokenTtl: 14 * 86400,
      refreshTokenReuseGrace: 0,
      accessTokenAudience: 'http://localhost:3000/api',
      accessTokenSigningAlg: 'ES256',
      clockSkew: 30,
      loginMaxFailures: 5,
      loginLockoutSeconds: 900,
      keyPublishDelay: 60,
      syncIntervalMs: 5000,
      logLevel: 'info',
      logFile: undefined,
      auditFlushIntervalMs: 200,
      auditBufferLimit: 50000,
      maintenanceIntervalSeconds: 60,
      maintenanceBatchSize: 5000,
      maintenanceMaxBatches: 20,
      maintenanceBatchPauseMs: 250,
      sessionTtl: 12 * 3600,
      sessionIdleTtl: 3600,
      authorizationCodeTtl: 60,
      allowInsecureRedirectUris: false,
      trustProxy: false,
      loginRateLimit: 30,
      tokenRateLimitPerClient: 60_000,
      tokenRateLimitPerAddress: 120_000,
      clientAuthMaxFailures: 20,
      clientAuthLockoutSeconds: 300,
      rateLimitSyncIntervalMs: 250,
      registrationEnabled: true,
      registrationInitialAccessToken: undefined,
      registrationRateLimit: 20,
      logoutRevokesOfflineAccess: false,
      requestTimeout: 30,
      headersTimeout: 10,
      keepAliveTimeout: 72,
    });
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig({ ...base, PORT: '', ACCESS_TOKEN_TTL: '  ', LOG_LEVEL: '', DATABASE_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.accessTokenTtl).toBe(900);
    expect(config.logLevel).toBe('info');
    expect(config.databaseUrl).toBeUndefined();
  });

  it('derives the default issuer and audience from PORT', () => {
    const config = loadConfig({ ...base, PORT: '8080' });
    expect(config.issuer).toBe('http://localhost:8080');
    expect(config.accessTokenAudience).toBe('http://localhost:8080/api');
  });

  it('derives the default audience from ISSUER, whose trailing slashes are dropped', () => {
    const config = loadConfig({ ...base, ISSUER: 'https://id.example.com/auth//' });
    expect(config.issuer).toBe('https://id.example.com/auth');
    expect(config.accessTokenAudience).toBe('https://id.example.com/auth/api');
  });

  it('reads production, a PostgreSQL URL and the other settings as given', () => {
    const config = loadConfig({
      ...base,
      NODE_ENV: 'production',
      DATABASE_URL: 'postgresql://gatehouse@db:5432/gatehouse',
      MIGRATIONS_RUN: 'false',
      ACCESS_TOKEN_SIGNING_ALG: 'PS256',
      LOG_LEVEL: 'warn',
      ACCESS_TOKEN_AUDIENCE: 'urn:example:api',
    });
    expect(config.production).toBe(true);
    expect(config.databaseUrl).toBe('postgresql://gatehouse@db:5432/gatehouse');
    expect(config.runMigrations).toBe(false);
    expect(config.accessTokenSigningAlg).toBe('PS256');
    expect(config.logLevel).toBe('warn');
    expect(config.accessTokenAudience).toBe('urn:example:api');
  });
});

describe('loadConfig durations', () => {
  it('reads plain numbers as seconds', () => {
    expect(loadConfig({ ...base, ACCESS_TOKEN_TTL: '600' }).accessTokenTtl).toBe(600);
    expect(loadConfig({ ...base, ACCESS_TOKEN_TTL: '45s' }).accessTokenTtl).toBe(45);
  });

  it('reads units: 15m is 900 seconds, 12h is 43200, 14d is 1209600', () => {
    const config = loadConfig({ ...base, ACCESS_TOKEN_TTL: '15m', LOGIN_LOCKOUT: '12h', REFRESH_TOKEN_TTL: '14d' });
    expect(config.accessTokenTtl).toBe(900);
    expect(config.loginLockoutSeconds).toBe(43200);
    expect(config.refreshTokenTtl).toBe(1209600);
  });

  it('applies the minimum after the unit: ACCESS_TOKEN_TTL=1m is allowed, 29s is not', () => {
    expect(loadConfig({ ...base, ACCESS_TOKEN_TTL: '1m' }).accessTokenTtl).toBe(60);
    expect(configError({ ...base, ACCESS_TOKEN_TTL: '29s' }).setting).toBe('ACCESS_TOKEN_TTL');
  });

  it('allows a zero reuse grace and clock skew', () => {
    const config = loadConfig({ ...base, REFRESH_TOKEN_REUSE_GRACE: '0', CLOCK_SKEW: '0s' });
    expect(config.refreshTokenReuseGrace).toBe(0);
    expect(config.clockSkew).toBe(0);
  });
});

describe('loadConfig refuses malformed settings with a ConfigError naming the setting', () => {
  const cases: [string, Environment][] = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '5' }],
    ['ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '15 minutes' }],
    ['ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '1.5h' }],
    ['REFRESH_TOKEN_TTL', { REFRESH_TOKEN_TTL: '14w' }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'abcdef' }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'ab'.repeat(31) }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'ab'.repeat(33) }],
    ['KEY_ENCRYPTION_KEYS_PREVIOUS', { KEY_ENCRYPTION_KEYS_PREVIOUS: 'abcdef' }],
    ['KEY_ENCRYPTION_KEYS_PREVIOUS', { KEY_ENCRYPTION_KEYS_PREVIOUS: `${'cd'.repeat(32)},${'ab'.repeat(31)}` }],
    ['KEY_ENCRYPTION_KEYS_PREVIOUS', { KEY_ENCRYPTION_KEYS_PREVIOUS: `${'cd'.repeat(32)},,${'ef'.repeat(32)}` }],
    ['ISSUER', { ISSUER: 'https://id.example.com/?tenant=a' }],
    ['ISSUER', { ISSUER: 'https://id.example.com/#top' }],
    ['ISSUER', { ISSUER: 'ftp://id.example.com' }],
    ['ISSUER', { ISSUER: 'id.example.com' }],
    ['MIGRATIONS_RUN', { MIGRATIONS_RUN: 'maybe' }],
    ['ACCESS_TOKEN_SIGNING_ALG', { ACCESS_TOKEN_SIGNING_ALG: 'HS256' }],
    ['ACCESS_TOKEN_SIGNING_ALG', { ACCESS_TOKEN_SIGNING_ALG: 'none' }],
    ['ACCESS_TOKEN_SIGNING_ALG', { ACCESS_TOKEN_SIGNING_ALG: 'EdDSA' }],
    ['ACCESS_TOKEN_SIGNING_ALG', { ACCESS_TOKEN_SIGNING_ALG: 'es256' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '0' }],
    ['SYNC_INTERVAL_MS', { SYNC_INTERVAL_MS: '10' }],
    ['ACCESS_TOKEN_AUDIENCE', { ACCESS_TOKEN_AUDIENCE: 'mailto:api@example.com' }],
    ['WORKERS', { WORKERS: '0' }],
    ['WORKERS', { WORKERS: 'many' }],
    ['WORKERS', { WORKERS: '2' }],
  ];

  it.each(cases)('%s in %o', (setting, env) => {
    const error = configError({ ...base, ...env });
    expect(error.setting).toBe(setting);
    expect(error.message).toContain(setting);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('KEY_ENCRYPTION_KEY is required with NODE_ENV=production, even for the embedded database', () => {
    const dir = tmpDir();
    const error = configError({ NODE_ENV: 'production', DATA_DIR: dir });
    expect(error.setting).toBe('KEY_ENCRYPTION_KEY');
    expect(error.message).toContain('KEY_ENCRYPTION_KEY');
    expect(existsSync(join(dir, 'key-encryption-key'))).toBe(false);
  });

  it('KEY_ENCRYPTION_KEY is required with DATABASE_URL, even in development', () => {
    const dir = tmpDir();
    expect(configError({ DATABASE_URL: 'postgres://localhost/gatehouse', DATA_DIR: dir }).setting).toBe('KEY_ENCRYPTION_KEY');
    expect(existsSync(join(dir, 'key-encryption-key'))).toBe(false);
  });

  it('reports the setting without echoing the key-encryption key', () => {
    const secret = 'cd'.repeat(31);
    expect(configError({ KEY_ENCRYPTION_KEY: secret }).message).not.toContain(secret);
  });
});

describe('loadConfig WORKERS', () => {
  const server = { ...base, DATABASE_URL: 'postgres://localhost/gatehouse' };

  it('takes a worker count with a PostgreSQL server', () => {
    expect(loadConfig({ ...server, WORKERS: '3' }).workers).toBe(3);
  });

  it('auto means one worker per available core', () => {
    expect(loadConfig({ ...server, WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it('refuses more than one worker on the embedded database, which serves one process', () => {
    expect(configError({ ...base, WORKERS: '4' }).message).toMatch(/WORKERS above 1 needs DATABASE_URL/);
  });
});

describe('loadConfig key-encryption key', () => {
  it('accepts 64 hex digits and the same 32 bytes as 43 base64url characters', () => {
    const bytes = randomBytes(32);
    const fromHex = loadConfig({ KEY_ENCRYPTION_KEY: bytes.toString('hex') }).keyEncryptionKey;
    const fromBase64url = loadConfig({ KEY_ENCRYPTION_KEY: bytes.toString('base64url') }).keyEncryptionKey;
    expect(fromHex.equals(bytes)).toBe(true);
    expect(fromBase64url.equals(bytes)).toBe(true);
  });

  it('in embedded development mode generates a key once into DATA_DIR and reuses it', () => {
    const dir = join(tmpDir(), 'nested', 'data');
    const first = loadConfig({ DATA_DIR: dir });
    const file = join(dir, 'key-encryption-key');
    expect(first.keyEncryptionKeyGenerated).toBe(true);
    expect(first.dataDir).toBe(dir);
    expect(first.keyEncryptionKey).toHaveLength(32);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.keyEncryptionKey.toString('hex'));
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const second = loadConfig({ DATA_DIR: dir });
    expect(second.keyEncryptionKeyGenerated).toBe(true);
    expect(second.keyEncryptionKey.equals(first.keyEncryptionKey)).toBe(true);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.keyEncryptionKey.toString('hex'));
  });

  it('generates different keys for different data folders', () => {
    expect(loadConfig({ DATA_DIR: tmpDir() }).keyEncryptionKey.equals(loadConfig({ DATA_DIR: tmpDir() }).keyEncryptionKey)).toBe(false);
  });

  it('prefers KEY_ENCRYPTION_KEY to the data folder and writes nothing there', () => {
    const dir = tmpDir();
    const config = loadConfig({ KEY_ENCRYPTION_KEY: KEK_HEX, DATA_DIR: dir });
    expect(config.keyEncryptionKeyGenerated).toBe(false);
    expect(config.keyEncryptionKey.toString('hex')).toBe(KEK_HEX);
    expect(existsSync(join(dir, 'key-encryption-key'))).toBe(false);
  });

  it('refuses a corrupt generated key file with a ConfigError naming KEY_ENCRYPTION_KEY', () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'key-encryption-key'), 'not hex\n');
    const error = configError({ DATA_DIR: dir });
    expect(error.setting).toBe('KEY_ENCRYPTION_KEY');
    expect(error.message).toContain(join(dir, 'key-encryption-key'));
  });
});

describe('loadConfig previous key-encryption keys (KEY_ENCRYPTION_KEYS_PREVIOUS)', () => {
  it('accepts one key or a comma-separated list, each as 64 hex digits or 43 base64url characters, in order', () => {
    const first = randomBytes(32);
    const second = randomBytes(32);
    expect(loadConfig({ ...base, KEY_ENCRYPTION_KEYS_PREVIOUS: first.toString('hex') }).previousKeyEncryptionKeys).toEqual([first]);
    const both = loadConfig({ ...base, KEY_ENCRYPTION_KEYS_PREVIOUS: ` ${first.toString('hex')} , ${second.toString('base64url')} ` });
    expect(both.previousKeyEncryptionKeys).toEqual([first, second]);
  });

  it('is empty when unset or blank', () => {
    expect(loadConfig({ ...base, KEY_ENCRYPTION_KEYS_PREVIOUS: '  ' }).previousKeyEncryptionKeys).toEqual([]);
  });

  it('names the bad entry of a list without echoing any key', () => {
    const good = 'cd'.repeat(32);
    const bad = 'ef'.repeat(30);
    const error = configError({ ...base, KEY_ENCRYPTION_KEYS_PREVIOUS: `${good},${bad}` });
    expect(error.message).toMatch(/^Invalid configuration: KEY_ENCRYPTION_KEYS_PREVIOUS entry 2 must be 32 bytes/);
    expect(error.message).not.toContain(good);
    expect(error.message).not.toContain(bad);
  });

  it('works beside a generated development key (embedded database)', () => {
    const previous = randomBytes(32);
    const config = loadConfig({ DATA_DIR: tmpDir(), KEY_ENCRYPTION_KEYS_PREVIOUS: previous.toString('hex') });
    expect(config.keyEncryptionKeyGenerated).toBe(true);
    expect(config.previousKeyEncryptionKeys).toEqual([previous]);
  });
});

describe('loadConfig dynamic client registration settings', () => {
  it('reads REGISTRATION_ENABLED, REGISTRATION_INITIAL_ACCESS_TOKEN and REGISTRATION_RATE_LIMIT', () => {
    const token = 'x'.repeat(20);
    const config = loadConfig({ ...base, REGISTRATION_ENABLED: 'false', REGISTRATION_INITIAL_ACCESS_TOKEN: ` ${token} `, REGISTRATION_RATE_LIMIT: '5' });
    expect(config).toMatchObject({ registrationEnabled: false, registrationInitialAccessToken: token, registrationRateLimit: 5 });
  });

  it.each([
    ['REGISTRATION_ENABLED', 'maybe'],
    ['REGISTRATION_RATE_LIMIT', '-1'],
    ['REGISTRATION_INITIAL_ACCESS_TOKEN', 'too-short'],
    ['REGISTRATION_INITIAL_ACCESS_TOKEN', 'has spaces inside it, twenty+'],
  ])('refuses %s=%s', (setting, value) => {
    expect(configError({ ...base, [setting]: value }).setting).toBe(setting);
  });

  it('does not echo a refused initial access token', () => {
    expect(configError({ ...base, REGISTRATION_INITIAL_ACCESS_TOKEN: 'secret-but-short' }).message).not.toContain('secret-but-short');
  });
});

describe('loadConfig logging and audit settings', () => {
  it('reads LOG_FILE as an absolute path, AUDIT_FLUSH_INTERVAL_MS and AUDIT_BUFFER_LIMIT', () => {
    const dir = tmpDir();
    const config = loadConfig({ ...base, LOG_FILE: join(dir, 'gatehouse.log'), AUDIT_FLUSH_INTERVAL_MS: '50', AUDIT_BUFFER_LIMIT: '1000' });
    expect(config).toMatchObject({ logFile: join(dir, 'gatehouse.log'), auditFlushIntervalMs: 50, auditBufferLimit: 1000 });
    expect(loadConfig({ ...base, LOG_FILE: 'relative.log' }).logFile).toBe(resolve('relative.log'));
    expect(existsSync(join(dir, 'gatehouse.log')), 'reading the setting writes nothing').toBe(false);
  });

  it.each([
    ['LOG_FILE', '/nonexistent-folder-of-gatehouse/gatehouse.log'],
    ['AUDIT_FLUSH_INTERVAL_MS', '5'],
    ['AUDIT_FLUSH_INTERVAL_MS', 'soon'],
    ['AUDIT_BUFFER_LIMIT', '10'],
    ['AUDIT_BUFFER_LIMIT', '1e6'],
  ])('refuses %s=%s with one line naming it', (setting, value) => {
    const error = configError({ ...base, [setting]: value });
    expect(error.setting).toBe(setting);
    expect(error.message.split('\n')).toHaveLength(1);
  });
});

describe('loadConfig rate limits and lockouts', () => {
  it('reads the token, sign-in and registration limits, the client lockout and the sync interval', () => {
    const config = loadConfig({
      ...base,
      TOKEN_RATE_LIMIT_PER_CLIENT: '1200000',
      TOKEN_RATE_LIMIT_PER_ADDRESS: '2400000',
      LOGIN_RATE_LIMIT: '100',
      REGISTRATION_RATE_LIMIT: '7',
      CLIENT_AUTH_MAX_FAILURES: '50',
      CLIENT_AUTH_LOCKOUT: '15m',
      RATE_LIMIT_SYNC_INTERVAL_MS: '500',
    });
    expect(config).toMatchObject({
      tokenRateLimitPerClient: 1_200_000,
      tokenRateLimitPerAddress: 2_400_000,
      loginRateLimit: 100,
      registrationRateLimit: 7,
      clientAuthMaxFailures: 50,
      clientAuthLockoutSeconds: 900,
      rateLimitSyncIntervalMs: 500,
    });
  });

  it('takes 0 to turn each limit and the client lockout off', () => {
    const config = loadConfig({
      ...base,
      TOKEN_RATE_LIMIT_PER_CLIENT: '0',
      TOKEN_RATE_LIMIT_PER_ADDRESS: '0',
      LOGIN_RATE_LIMIT: '0',
      REGISTRATION_RATE_LIMIT: '0',
      CLIENT_AUTH_MAX_FAILURES: '0',
    });
    expect(config).toMatchObject({
      tokenRateLimitPerClient: 0,
      tokenRateLimitPerAddress: 0,
      loginRateLimit: 0,
      registrationRateLimit: 0,
      clientAuthMaxFailures: 0,
    });
  });

  it.each([
    ['TOKEN_RATE_LIMIT_PER_CLIENT', '-5'],
    ['TOKEN_RATE_LIMIT_PER_CLIENT', '10/s'],
    ['TOKEN_RATE_LIMIT_PER_ADDRESS', 'many'],
    ['LOGIN_RATE_LIMIT', '1.5'],
    ['CLIENT_AUTH_MAX_FAILURES', 'ten'],
    ['CLIENT_AUTH_LOCKOUT', '0'],
    ['CLIENT_AUTH_LOCKOUT', '5 minutes'],
    ['RATE_LIMIT_SYNC_INTERVAL_MS', '5'],
    ['RATE_LIMIT_SYNC_INTERVAL_MS', '600000'],
  ])('refuses %s=%s with an error naming it', (setting, value) => {
    expect(configError({ ...base, [setting]: value }).setting).toBe(setting);
  });
});

describe('loadConfig expired-row cleanup settings', () => {
  it('reads MAINTENANCE_INTERVAL, MAINTENANCE_BATCH_SIZE, MAINTENANCE_MAX_BATCHES and MAINTENANCE_BATCH_PAUSE_MS', () => {
    const config = loadConfig({
      ...base,
      MAINTENANCE_INTERVAL: '5m',
      MAINTENANCE_BATCH_SIZE: '1000',
      MAINTENANCE_MAX_BATCHES: '50',
      MAINTENANCE_BATCH_PAUSE_MS: '25',
    });
    expect(config).toMatchObject({ maintenanceIntervalSeconds: 300, maintenanceBatchSize: 1000, maintenanceMaxBatches: 50, maintenanceBatchPauseMs: 25 });
  });

  it.each([
    ['MAINTENANCE_INTERVAL', '0'],
    ['MAINTENANCE_BATCH_SIZE', '0'],
    ['MAINTENANCE_BATCH_SIZE', '100001'],
    ['MAINTENANCE_BATCH_SIZE', 'many'],
    ['MAINTENANCE_MAX_BATCHES', '0'],
    ['MAINTENANCE_BATCH_PAUSE_MS', '-5'],
    ['MAINTENANCE_BATCH_PAUSE_MS', '60001'],
  ])('refuses %s=%s', (setting, value) => {
    expect(configError({ ...base, [setting]: value }).setting).toBe(setting);
  });
});

describe('loadConfig timeouts against slow clients', () => {
  it('reads REQUEST_TIMEOUT, HEADERS_TIMEOUT and KEEP_ALIVE_TIMEOUT as durations', () => {
    expect(loadConfig({ ...base, REQUEST_TIMEOUT: '2m', HEADERS_TIMEOUT: '20s', KEEP_ALIVE_TIMEOUT: '5' })).toMatchObject({
      requestTimeout: 120,
      headersTimeout: 20,
      keepAliveTimeout: 5,
    });
  });

  it('lowers the default HEADERS_TIMEOUT to a shorter REQUEST_TIMEOUT', () => {
    expect(loadConfig({ ...base, REQUEST_TIMEOUT: '3' })).toMatchObject({ requestTimeout: 3, headersTimeout: 3 });
  });

  it.each([
    ['REQUEST_TIMEOUT', { REQUEST_TIMEOUT: '0' }],
    ['REQUEST_TIMEOUT', { REQUEST_TIMEOUT: 'soon' }],
    ['HEADERS_TIMEOUT', { HEADERS_TIMEOUT: '0' }],
    ['HEADERS_TIMEOUT', { REQUEST_TIMEOUT: '5', HEADERS_TIMEOUT: '6' }],
    ['KEEP_ALIVE_TIMEOUT', { KEEP_ALIVE_TIMEOUT: '0' }],
  ])('refuses %s in %o', (setting, env) => {
    const error = configError({ ...base, ...env });
    expect(error.setting).toBe(setting);
    expect(error.message.split('\n')).toHaveLength(1);
  });
});
