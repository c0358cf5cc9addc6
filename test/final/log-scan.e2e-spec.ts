import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logFilesOfRun, readRecordedSecrets, RecordedSecret, RUN_DIR, SecretKind } from '../helpers/test-run';

/**
 * Runs after every other spec (its own vitest project, a later group): every Gatehouse
 * the suite started logged every request into files of the run folder, and every secret
 * the tests handled was recorded (test/helpers/test-run.ts). No secret may appear in any
 * log, neither as it is nor URL-, form- or JSON-encoded.
 *
 * So that it cannot pass vacuously, it first checks that the run produced a substantial
 * amount of log from both in-process and separately started servers, and secrets of
 * every kind the suite handles.
 */

/** What a full run produces at the least (a full run gives many times more). */
const MINIMUM_LOG_BYTES = 500_000;
const MINIMUM_SECRETS: Partial<Record<SecretKind, number>> = {
  access_token: 200,
  refresh_token: 50,
  id_token: 20,
  code: 20,
  client_secret: 50,
  registration_access_token: 3,
  password: 5,
  key_encryption_key: 20,
};

/** The forms a secret could take in a log line. */
function encodings(value: string): string[] {
  const forms = new Set([value, encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2), JSON.stringify(value).slice(1, -1)]);
  return [...forms];
}

const WINDOW = 8;

interface Leak {
  file: string;
  line: number;
  kind: SecretKind;
  excerpt: string;
}

/** Finds every needle in `text`: candidates by their last 8 characters, then a full comparison. */
function findLeaks(file: string, text: string, byTail: Map<string, { needle: string; secret: RecordedSecret }[]>): Leak[] {
  const leaks: Leak[] = [];
  for (let end = WINDOW; end <= text.length; end++) {
    const candidates = byTail.get(text.slice(end - WINDOW, end));
    if (!candidates) continue;
    for (const { needle, secret } of candidates) {
      if (end >= needle.length && text.startsWith(needle, end - needle.length)) {
        const line = text.slice(0, end).split('\n').length;
        leaks.push({ file: basename(file), line, kind: secret.kind, excerpt: `${secret.value.slice(0, 6)}…(${secret.value.length} characters)` });
      }
    }
  }
  return leaks;
}

/** Buckets every encoding of every secret by its last characters. */
function needlesOf(secrets: RecordedSecret[]): Map<string, { needle: string; secret: RecordedSecret }[]> {
  const byTail = new Map<string, { needle: string; secret: RecordedSecret }[]>();
  for (const secret of secrets) {
    for (const needle of encodings(secret.value)) {
      const tail = needle.slice(-WINDOW);
      const bucket = byTail.get(tail) ?? [];
      if (!bucket.some((entry) => entry.needle === needle)) bucket.push({ needle, secret });
      byTail.set(tail, bucket);
    }
  }
  return byTail;
}

describe('the log scanner', () => {
  it('finds a secret in a log line as it is, URL-encoded, form-encoded or JSON-escaped, and nothing in a clean line', () => {
    const secrets: RecordedSecret[] = [
      { kind: 'refresh_token', value: 'Zx9-Qm_4TtW2pL8vYk3NcR5aH7dJ1sFgB6eUoI0rXy' },
      { kind: 'password', value: 'correct horse "battery" staple' },
      { kind: 'client_secret', value: 'a+b/c=d&e%f?g' },
    ];
    const byTail = needlesOf(secrets);
    const log = [
      '{"msg":"request completed","req":{"path":"/oauth/token"}}',
      `{"msg":"refresh failed for Zx9-Qm_4TtW2pL8vYk3NcR5aH7dJ1sFgB6eUoI0rXy"}`,
      `{"msg":"login","password":${JSON.stringify('correct horse "battery" staple')}}`,
      `{"msg":"GET /cb?s=${encodeURIComponent('a+b/c=d&e%f?g')}"}`,
      `{"msg":"form password=${new URLSearchParams({ p: 'correct horse "battery" staple' }).toString().slice(2)}"}`,
    ].join('\n');
    expect(findLeaks('synthetic.log', log, byTail).map(({ line, kind }) => [line, kind])).toEqual([
      [2, 'refresh_token'],
      [3, 'password'],
      [4, 'client_secret'],
      [5, 'password'],
    ]);
    expect(findLeaks('clean.log', '{"msg":"request completed","req":{"path":"/oauth/token"}}', byTail)).toEqual([]);
  });
});

describe('logs of the whole end-to-end run', () => {
  it('contain none of the tokens, codes, client secrets, registration tokens, passwords or keys the tests handled', () => {
    expect(RUN_DIR, 'GATEHOUSE_TEST_RUN_DIR is set by vitest.config.mts').toBeDefined();

    const files = logFilesOfRun();
    const sizes = files.map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    const totalBytes = sizes.reduce((sum, { text }) => sum + Buffer.byteLength(text), 0);
    const requestLines = sizes.reduce((sum, { text }) => sum + (text.match(/"msg":"request completed"/g)?.length ?? 0), 0);
    const secrets = readRecordedSecrets();
    const perKind = new Map<SecretKind, number>();
    for (const secret of secrets) perKind.set(secret.kind, (perKind.get(secret.kind) ?? 0) + 1);
    const summary = `${files.length} log files, ${totalBytes} bytes, ${requestLines} request lines; secrets ${JSON.stringify(Object.fromEntries(perKind))}`;

    // Not vacuous: the whole suite ran, servers of both kinds logged requests, and secrets of every kind were seen.
    expect(totalBytes, `run the whole suite (npm test): ${summary}`).toBeGreaterThanOrEqual(MINIMUM_LOG_BYTES);
    expect(
      files.some((file) => basename(file).startsWith('app-')),
      summary,
    ).toBe(true);
    expect(
      files.some((file) => basename(file).startsWith('server-')),
      summary,
    ).toBe(true);
    expect(
      files.some((file) => basename(file).startsWith('cli-')),
      summary,
    ).toBe(true);
    expect(requestLines, summary).toBeGreaterThan(1000);
    for (const [kind, minimum] of Object.entries(MINIMUM_SECRETS)) {
      expect(perKind.get(kind as SecretKind) ?? 0, `${kind}: ${summary}`).toBeGreaterThanOrEqual(minimum);
    }

    const byTail = needlesOf(secrets);
    const leaks = sizes.flatMap(({ file, text }) => findLeaks(file, text, byTail));
    expect(leaks.slice(0, 20), `${leaks.length} secrets found in the logs (${summary})`).toEqual([]);
  }, 300_000);
});
