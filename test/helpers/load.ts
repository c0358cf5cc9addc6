import { IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { UPSTREAM_HEADER } from './nginx';

/**
 * Continuous load for the scale-out and fault specs: a few workers, each repeating a step
 * (one or more requests) until stopped, with every request recorded — when it started and
 * ended (performance.now()), its status (0: no response), and which upstream nginx used.
 */

export interface Outcome {
  kind: string;
  started: number;
  ended: number;
  /** HTTP status, or 0 when no response arrived (connection refused, reset, timeout). */
  status: number;
  /** nginx's upstream header: the instance(s) it tried, last one answering. */
  upstream: string;
  /** The response headers (none without a response). */
  headers: IncomingHttpHeaders;
  /** The OAuth `error` of a JSON error body, or the network error's message. */
  error?: string;
  body?: Record<string, unknown>;
  text: string;
}

/** What a request sends: method, headers, and a string body. */
export interface CallInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export type Call = (kind: string, url: string, init?: CallInit) => Promise<Outcome>;

export interface LoadRun {
  /** Every request so far, in completion order. */
  readonly outcomes: Outcome[];
  /** Errors thrown by steps themselves (a step that throws is a broken test, reported as such). */
  readonly stepErrors: string[];
  /** Resolves once `count` more requests have completed (or throws after `timeoutMs`). */
  completed(count: number, timeoutMs?: number): Promise<void>;
  /** Lets every worker finish its current step, then resolves with every outcome. */
  stop(): Promise<Outcome[]>;
}

const REQUEST_TIMEOUT_MS = 20_000;

/**
 * One request over a connection of its own (no keep-alive: a reload of nginx or the end of
 * an instance never meets a pooled connection mid-request); recorded, never throws.
 */
export const call: Call = (kind, url, init = {}) =>
  new Promise((resolve) => {
    const started = performance.now();
    const headers: Record<string, string> = { ...init.headers, connection: 'close' };
    const body = typeof init.body === 'string' ? init.body : undefined;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const fail = (error: Error & { code?: string }) =>
      resolve({ kind, started, ended: performance.now(), status: 0, upstream: '', headers: {}, error: error.code ?? error.message, text: '' });
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> | undefined;
        if ((res.headers['content-type'] ?? '').includes('json') && text) {
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = undefined;
          }
        }
        resolve({
          kind,
          started,
          ended: performance.now(),
          status: res.statusCode ?? 0,
          upstream: String(res.headers[UPSTREAM_HEADER] ?? ''),
          headers: res.headers,
          error: typeof parsed?.error === 'string' ? parsed.error : undefined,
          body: parsed,
          text,
        });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', fail);
    req.end(body);
  });

/** Starts `concurrency` workers, each running `step(worker, call)` in a loop. */
export function startLoad(concurrency: number, step: (worker: number, call: Call) => Promise<void>): LoadRun {
  const outcomes: Outcome[] = [];
  const stepErrors: string[] = [];
  let stopping = false;
  const recorded: Call = async (kind, url, init) => {
    const outcome = await call(kind, url, init);
    outcomes.push(outcome);
    return outcome;
  };
  const workers = Array.from({ length: concurrency }, async (_, worker) => {
    while (!stopping) {
      try {
        await step(worker, recorded);
      } catch (error) {
        stepErrors.push(`worker ${worker}: ${(error as Error).stack ?? String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });
  return {
    outcomes,
    stepErrors,
    async completed(count, timeoutMs = 30_000) {
      const target = outcomes.length + count;
      const deadline = performance.now() + timeoutMs;
      while (outcomes.length < target) {
        if (performance.now() > deadline) throw new Error(`only ${outcomes.length - target + count} of ${count} requests completed within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      stopping = true;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

/** A short, readable line per outcome, for assertion messages. */
export const describeOutcome = (outcome: Outcome): string =>
  `${outcome.kind} ${outcome.status} ${outcome.error ?? ''} via ${outcome.upstream || '-'} at ${outcome.started.toFixed(0)}-${outcome.ended.toFixed(0)} ms ${outcome.text.slice(0, 120)}`;
