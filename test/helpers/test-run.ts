import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Evidence for the log scan that runs after the whole suite (test/final/log-scan.e2e-spec.ts):
 * every Gatehouse the tests start logs into files under the run folder, and every secret
 * the tests handle (tokens, codes, client secrets, registration access tokens, passwords,
 * key-encryption keys) is appended to a file per test process. The scan then asserts
 * that no secret appears in any log.
 *
 * The run folder comes from GATEHOUSE_TEST_RUN_DIR, which vitest.config.mts sets for
 * every test process of one `vitest` run. Without it (a helper used outside vitest) logs
 * go to standard output as before and nothing is recorded.
 */
export const RUN_DIR: string | undefined = process.env.GATEHOUSE_TEST_RUN_DIR || undefined;

export const LOGS_DIR = RUN_DIR && join(RUN_DIR, 'logs');
export const SECRETS_DIR = RUN_DIR && join(RUN_DIR, 'secrets');

let logFiles = 0;

/** A new file in the run's log folder for one server or CLI run (undefined without a run folder). */
export function newLogFile(kind: 'app' | 'server' | 'cli'): string | undefined {
  if (!LOGS_DIR) return undefined;
  mkdirSync(LOGS_DIR, { recursive: true });
  return join(LOGS_DIR, `${kind}-${process.pid}-${++logFiles}-${Date.now().toString(36)}.log`);
}

/** Appends output to a log file of the run (synchronously: nothing is lost when the test process ends). */
export function appendLog(file: string | undefined, chunk: string | Buffer): void {
  if (file) appendFileSync(file, chunk);
}

/** What a recorded secret was, for the scan's report. */
export type SecretKind =
  | 'access_token'
  | 'refresh_token'
  | 'id_token'
  | 'code'
  | 'code_verifier'
  | 'client_secret'
  | 'client_credentials'
  | 'registration_access_token'
  | 'initial_access_token'
  | 'logout_token'
  | 'password'
  | 'key_encryption_key'
  | 'token';

export interface RecordedSecret {
  kind: SecretKind;
  value: string;
}

/** Response and request members whose string values are secrets. */
export const SECRET_MEMBERS: Record<string, SecretKind> = {
  access_token: 'access_token',
  refresh_token: 'refresh_token',
  id_token: 'id_token',
  code: 'code',
  code_verifier: 'code_verifier',
  client_secret: 'client_secret',
  registration_access_token: 'registration_access_token',
  logout_token: 'logout_token',
  password: 'password',
  token: 'token',
  id_token_hint: 'id_token',
};

/** Settings whose values are secrets (given to servers started by the tests). */
export const SECRET_SETTINGS: Record<string, SecretKind> = {
  KEY_ENCRYPTION_KEY: 'key_encryption_key',
  KEY_ENCRYPTION_KEYS_PREVIOUS: 'key_encryption_key',
  REGISTRATION_INITIAL_ACCESS_TOKEN: 'initial_access_token',
};

/**
 * Shorter or low-variety values are left out: they could occur in a log by coincidence (a
 * fuzzed "aaaaaaaa", or a placeholder such as "Bearer anything" that another test also uses as
 * a path). What Gatehouse issues is far longer, and test passwords are at least this long.
 */
const MIN_LENGTH = 12;
const MIN_DISTINCT_CHARACTERS = 5;

const worthScanning = (value: string): boolean => value.length >= MIN_LENGTH && new Set(value).size >= MIN_DISTINCT_CHARACTERS;

const recorded = new Set<string>();

/** Records a secret the tests handled; each value once per process. */
export function recordSecret(kind: SecretKind, value: unknown): void {
  if (!SECRETS_DIR || typeof value !== 'string' || !worthScanning(value) || recorded.has(value)) return;
  recorded.add(value);
  mkdirSync(SECRETS_DIR, { recursive: true });
  appendFileSync(join(SECRETS_DIR, `${process.pid}.jsonl`), JSON.stringify({ kind, value } satisfies RecordedSecret) + '\n');
}

/** Records the secret members of a parsed JSON value, at any depth. */
export function recordSecretsIn(value: unknown, depth = 0): void {
  if (depth > 6 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) recordSecretsIn(item, depth + 1);
    return;
  }
  for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
    if (typeof member === 'string' && SECRET_MEMBERS[name]) recordSecret(SECRET_MEMBERS[name], member);
    else recordSecretsIn(member, depth + 1);
  }
}

/** Records the secret parameters of a form, a query string or a fragment. */
export function recordSecretParams(params: URLSearchParams): void {
  for (const [name, value] of params) if (SECRET_MEMBERS[name]) recordSecret(SECRET_MEMBERS[name], value);
}

/** Records the credentials of an Authorization header (Basic: the encoded pair and the secret; Bearer: the token). */
export function recordAuthorization(header: string | null | undefined): void {
  if (!header) return;
  const [scheme, credentials] = header.split(' ', 2);
  if (!credentials) return;
  if (/^basic$/i.test(scheme)) {
    recordSecret('client_credentials', credentials);
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) {
      const secret = decoded.slice(colon + 1);
      recordSecret('client_secret', secret);
      try {
        recordSecret('client_secret', decodeURIComponent(secret.replace(/\+/g, '%20')));
      } catch {
        // not form-encoded
      }
    }
  } else if (/^(bearer|dpop)$/i.test(scheme)) {
    recordSecret('token', credentials);
  }
}

/** Records the secrets of a JSON, form or HTML (form_post, hidden inputs) body. */
export function recordSecretsInBody(text: string, contentType: string | null): void {
  if (!text) return;
  const type = contentType ?? '';
  if (type.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      recordSecretsIn(JSON.parse(text));
      return;
    } catch {
      // not JSON after all
    }
  }
  if (type.includes('x-www-form-urlencoded') || (!type && /^[\w.~%+-]+=/.test(text))) {
    recordSecretParams(new URLSearchParams(text));
    return;
  }
  if (type.includes('html')) {
    for (const match of text.matchAll(/<input[^>]*\bname="([a-z_]+)"[^>]*\bvalue="([^"]*)"/g)) {
      if (SECRET_MEMBERS[match[1]]) recordSecret(SECRET_MEMBERS[match[1]], match[2].replace(/&amp;/g, '&').replace(/&quot;/g, '"'));
    }
  }
}

/** Records the secret parameters of a URL (query and fragment: a redirect carrying a code or tokens). */
export function recordSecretsInUrl(url: string | URL | null | undefined, base = 'http://localhost'): void {
  if (!url) return;
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    return;
  }
  recordSecretParams(parsed.searchParams);
  if (parsed.hash.length > 1) recordSecretParams(new URLSearchParams(parsed.hash.slice(1)));
}

/** Records the secret settings of an environment given to a Gatehouse. */
export function recordSecretSettings(env: Record<string, string | undefined>): void {
  for (const [name, kind] of Object.entries(SECRET_SETTINGS)) for (const value of (env[name] ?? '').split(',')) recordSecret(kind, value.trim());
}

/** Every secret recorded by every test process of this run. */
export function readRecordedSecrets(): RecordedSecret[] {
  if (!SECRETS_DIR) return [];
  const secrets: RecordedSecret[] = [];
  for (const file of safeReaddir(SECRETS_DIR)) {
    for (const line of readFileSync(join(SECRETS_DIR, file), 'utf8').split('\n')) {
      const secret = line ? (JSON.parse(line) as RecordedSecret) : undefined;
      if (secret && worthScanning(secret.value)) secrets.push(secret);
    }
  }
  return secrets;
}

/** The log files of this run. */
export function logFilesOfRun(): string[] {
  return LOGS_DIR ? safeReaddir(LOGS_DIR).map((file) => join(LOGS_DIR, file)) : [];
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
