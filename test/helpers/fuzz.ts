import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { TestApp } from './test-app';
import { exchangeOnce, WireClient, WireResponse } from './fuzz-http';

/**
 * The fuzz harness: fast-check properties whose every run is one HTTP request to a real
 * Gatehouse (in-process, over a fresh PostgreSQL database), sent either through Fastify's
 * `inject` or over a real socket through Node's HTTP parser.
 *
 * `npm test` runs each property FUZZ_RUNS times (default 300); `npm run fuzz` sets 10,000.
 * FUZZ_SEED replays a run; FUZZ_PATH (from a failure report) goes straight to its counterexample.
 */

export const FUZZ_RUNS = positiveInteger('FUZZ_RUNS', 300);
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const FUZZ_PATH = process.env.FUZZ_PATH || undefined;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** Vitest timeout for a property of `runs` requests (generous: the machine is shared). */
export function fuzzTimeout(runs = FUZZ_RUNS, perRequestMs = 100): number {
  return 60_000 + runs * perRequestMs;
}

// --- Unhandled rejections and uncaught exceptions, counted for the whole spec file -----------

const processFailures: string[] = [];
process.on('unhandledRejection', (reason) => processFailures.push(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`));
process.on('uncaughtException', (error) => processFailures.push(`uncaught exception: ${error.stack ?? String(error)}`));

/** Every unhandled rejection and uncaught exception seen in this process since the spec started. */
export function processFailureCount(): number {
  return processFailures.length;
}

export function expectNoProcessFailures(): void {
  expect(processFailures, processFailures.join('\n')).toEqual([]);
}

// --- Requests and transports -----------------------------------------------------------------

export type Transport = 'inject' | 'wire';

/** One generated request, sent exactly as described. */
export interface FuzzRequest {
  method: string;
  /** Path and query, as the request line carries them. */
  target: string;
  headers: [string, string][];
  body?: string | Buffer;
  transport: Transport;
}

export interface FuzzResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text: string;
  /** The parsed body when the response says it is JSON. */
  json: unknown;
  /** How the request really went (inject falls back to the wire for what it cannot send). */
  transport: Transport;
}

/** Mostly in-process injection (fast), a share over a real socket (Node's parser, real headers). */
export function transport(wireShare: number): fc.Arbitrary<Transport> {
  const wire = Math.round(wireShare * 100);
  return fc.oneof({ weight: 100 - wire, arbitrary: fc.constant<Transport>('inject') }, { weight: wire, arbitrary: fc.constant<Transport>('wire') });
}

/** Sends fuzzed requests to one Gatehouse and keeps count. */
export class Fuzzer {
  readonly wire: WireClient;
  private readonly statuses = new Map<number, number>();
  private sent = 0;
  private started = performance.now();

  constructor(readonly app: TestApp) {
    this.wire = new WireClient(Number(new URL(app.baseUrl).port));
  }

  async send(request: FuzzRequest): Promise<FuzzResponse> {
    this.sent++;
    const response = request.transport === 'inject' ? await this.inject(request) : undefined;
    const result = response ?? (await this.overWire(request));
    this.statuses.set(result.status, (this.statuses.get(result.status) ?? 0) + 1);
    return result;
  }

  /**
   * Sends raw bytes on a connection of its own, closed for writing after them, and reads what
   * comes back; undefined when the server closed without answering.
   */
  async sendRaw(bytes: Buffer): Promise<FuzzResponse | undefined> {
    this.sent++;
    const response = await exchangeOnce(this.wire.port, bytes, { halfClose: true });
    if (!response) {
      this.statuses.set(0, (this.statuses.get(0) ?? 0) + 1);
      return undefined;
    }
    this.statuses.set(response.status, (this.statuses.get(response.status) ?? 0) + 1);
    return toResponse(response.status, response.headers, response.text, 'wire');
  }

  /** Starts a new count (one per property). */
  reset(): void {
    this.statuses.clear();
    this.sent = 0;
    this.started = performance.now();
  }

  /** Requests sent since reset, the rate, and how many of each status. */
  summary(): { requests: number; seconds: number; perSecond: number; statuses: string } {
    const seconds = (performance.now() - this.started) / 1000;
    const statuses = [...this.statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}×${count}`)
      .join(' ');
    return { requests: this.sent, seconds, perSecond: this.sent / seconds, statuses };
  }

  close(): void {
    this.wire.close();
  }

  private async inject(request: FuzzRequest): Promise<FuzzResponse | undefined> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of request.headers) {
      const key = name.toLowerCase();
      const previous = headers[key];
      headers[key] = previous === undefined ? value : ([] as string[]).concat(previous, value);
    }
    let injected: LightMyRequestResponse;
    try {
      injected = await this.app.app
        .getHttpAdapter()
        .getInstance()
        .inject({ method: request.method as 'GET', url: request.target, headers, ...(request.body !== undefined ? { payload: request.body } : {}) });
    } catch {
      return undefined; // light-my-request refuses what no HTTP client could send: the wire takes it
    }
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(injected.headers)) {
      if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return toResponse(injected.statusCode, flat, injected.body, 'inject');
  }

  private async overWire(request: FuzzRequest): Promise<FuzzResponse> {
    const response: WireResponse | undefined = await this.wire.send({
      method: request.method,
      target: request.target,
      headers: request.headers,
      body: request.body,
    });
    if (!response) throw new Error(`the server closed the connection without answering ${request.method} ${request.target.slice(0, 100)}`);
    return toResponse(response.status, response.headers, response.text, 'wire');
  }
}

function toResponse(status: number, headers: Record<string, string>, text: string, via: Transport): FuzzResponse {
  let json: unknown = undefined;
  if (/json/i.test(headers['content-type'] ?? '') && text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`the response says it is JSON but is not: ${text.slice(0, 200)}`);
    }
  }
  return { status, headers, text, json, transport: via };
}

/** A request for messages: short, and with control characters visible. */
export function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : Buffer.isBuffer(request.body) ? `<${request.body.length} bytes>` : JSON.stringify(request.body.slice(0, 300));
  return `${request.transport} ${request.method} ${JSON.stringify(request.target.slice(0, 300))} ${JSON.stringify(request.headers.map(([n, v]) => [n, v.slice(0, 120)]))} ${body}`;
}

export function describeResponse(response: FuzzResponse): string {
  return `${response.status} via ${response.transport} ${JSON.stringify(response.headers)} ${response.text.slice(0, 300)}`;
}

// --- Running a property ----------------------------------------------------------------------

/**
 * Runs `check` on `runs` generated inputs (FUZZ_RUNS by default), then prints how many
 * requests went out, how fast, and the seed. On failure fast-check's report (seed, path,
 * the shrunk counterexample) is printed with the command that replays it.
 */
export async function runFuzz<T>(
  fuzzer: Fuzzer,
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => Promise<void>,
  options: { runs?: number; file?: string } = {},
): Promise<void> {
  const seed = FUZZ_SEED ?? (Date.now() ^ (Math.random() * 0x100000000)) | 0;
  const runs = options.runs ?? FUZZ_RUNS;
  fuzzer.reset();
  const property = fc.asyncProperty(arbitrary, async (input) => {
    const failuresBefore = processFailureCount();
    await check(input);
    // Let a rejection the request left behind surface before the next input.
    await new Promise((resolve) => setImmediate(resolve));
    if (processFailureCount() !== failuresBefore) throw new Error(`the request caused: ${processFailures.slice(failuresBefore).join('\n')}`);
  });
  try {
    await fc.assert(property, { numRuns: runs, seed, ...(FUZZ_PATH ? { path: FUZZ_PATH } : {}), endOnFailure: false });
  } catch (error) {
    const spec = options.file ? ` npx vitest run ${options.file}` : '';
    const report = abbreviate((error as Error).message);
    console.error(`[fuzz] ${name}: FAILED with seed ${seed}. Replay: FUZZ_SEED=${seed} FUZZ_RUNS=${runs}${spec} -t '${name}'\n${report}`);
    throw new Error(report, { cause: (error as Error).cause });
  } finally {
    const { requests, seconds, perSecond, statuses } = fuzzer.summary();
    console.log(`[fuzz] ${name}: ${requests} requests in ${seconds.toFixed(1)} s (${perSecond.toFixed(0)}/s), seed ${seed}; statuses ${statuses}`);
  }
  expectNoProcessFailures();
}

/** Long runs of one character (the overlong inputs) shortened, so that a report stays readable. */
function abbreviate(text: string): string {
  return text.replace(/(.)\1{63,}/gsu, (run, char: string) => `${char.repeat(8)}…(${run.length} × ${JSON.stringify(char)})`);
}

// --- What every response must look like ------------------------------------------------------

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARSET = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;

/** Codes any endpoint may answer outside its protocol set: routing, limits, throttling. */
export const GENERIC_ERRORS = ['not_found', 'method_not_allowed', 'too_many_requests'];

export function expectNoServerError(request: FuzzRequest, response: FuzzResponse): void {
  expect(response.status, `5xx for ${describeRequest(request)}\n→ ${describeResponse(response)}`).toBeLessThan(500);
  expect(response.status, `no real status for ${describeRequest(request)}`).toBeGreaterThanOrEqual(100);
}

/**
 * An RFC 6749 §5.2 / RFC 6750 §3 / RFC 7591 §3.2.2 error: JSON with exactly `error` (one of
 * `allowed`) and `error_description` (a string in the RFC's character set), not cached.
 * 429 carries Retry-After; 401 and 403 from bearer-token endpoints carry their challenge.
 */
export function expectRfcError(request: FuzzRequest, response: FuzzResponse, allowed: readonly string[]): void {
  const context = `${describeRequest(request)}\n→ ${describeResponse(response)}`;
  expect(response.headers['content-type'], context).toMatch(/^application\/json/);
  expect(response.headers['cache-control'], context).toBe('no-store');
  if (request.method.toUpperCase() === 'HEAD') return; // the headers of the error, without its body
  const body = response.json as Record<string, unknown>;
  expect(typeof body === 'object' && body !== null && !Array.isArray(body), context).toBe(true);
  expect(Object.keys(body).sort(), context).toEqual(['error', 'error_description']);
  expect([...allowed, ...GENERIC_ERRORS], context).toContain(body.error);
  expect(typeof body.error_description, context).toBe('string');
  expect(body.error_description, context).toMatch(DESCRIPTION_CHARSET);
  if (response.status === 429) expect(response.headers['retry-after'], context).toMatch(/^\d+$/);
  if (body.error === 'too_many_requests') expect(response.status, context).toBe(429);
  if (body.error === 'not_found') expect(response.status, context).toBe(404);
  if (body.error === 'method_not_allowed') expect(response.status, context).toBe(405);
}

/**
 * RFC 6750 §3: a 401 or 403 from a bearer-token endpoint carries `WWW-Authenticate: Bearer`
 * with a realm and, when a token was presented and refused, the error code of the body.
 */
export function expectBearerChallenge(request: FuzzRequest, response: FuzzResponse): void {
  const context = `${describeRequest(request)}\n→ ${describeResponse(response)}`;
  const challenge = response.headers['www-authenticate'];
  expect(challenge, context).toMatch(/^Bearer realm="[^"]*"/);
  const error = /error="([^"]*)"/.exec(challenge ?? '')?.[1];
  if (error !== undefined && request.method.toUpperCase() !== 'HEAD') expect(error, context).toBe((response.json as { error: string }).error);
  if (response.status === 403) expect(error, context).toBe('insufficient_scope');
  // RFC 6750 §3: every parameter is a quoted string of printable ASCII.
  expect(challenge, context).toMatch(/^Bearer( [a-z_]+="[\x20-\x21\x23-\x5B\x5D-\x7E]*",?)*$/);
}

/** A response with the text failure messages quote. */
export interface Exchange {
  response: FuzzResponse;
  /** The request and response, for assertion messages. */
  context: string;
  /** A CORS preflight answer (OPTIONS, 204), which carries no OAuth semantics. */
  preflight: boolean;
}

/** Sends one request and applies what every answer must meet: no 5xx. */
export async function exchange(fuzzer: Fuzzer, request: FuzzRequest): Promise<Exchange> {
  const response = await fuzzer.send(request);
  expectNoServerError(request, response);
  const context = `${describeRequest(request)}\n→ ${describeResponse(response)}`;
  return { response, context, preflight: request.method === 'OPTIONS' && response.status === 204 };
}

/**
 * Whether a request was refused before any endpoint ran: by Node's HTTP parser (the
 * description names its HPE_ reason), or by a size limit (413, 414, 431).
 */
export function refusedBeforeEndpoint(response: FuzzResponse): boolean {
  const description = (response.json as { error_description?: unknown } | undefined)?.error_description;
  return [413, 414, 431].includes(response.status) || (typeof description === 'string' && /\(HPE_[A-Z_]+\)$/.test(description));
}

/**
 * An error of an endpoint that authenticates clients (token, revocation, introspection):
 * the RFC shape, `invalid_client` always 401, with a Basic challenge when the client tried
 * Basic (RFC 6749 §5.2).
 */
export function expectClientEndpointError(request: FuzzRequest, response: FuzzResponse, allowed: readonly string[]): void {
  expectRfcError(request, response, allowed);
  if (request.method.toUpperCase() === 'HEAD' || (response.json as { error?: string }).error !== 'invalid_client') return;
  const context = `${describeRequest(request)}\n→ ${describeResponse(response)}`;
  expect(response.status, context).toBe(401);
  const triedBasic = request.headers.some(([name, value]) => name.toLowerCase() === 'authorization' && /^basic\b/i.test(value));
  if (triedBasic) expect(response.headers['www-authenticate'], context).toMatch(/^Basic realm="[^"]+"/);
}
