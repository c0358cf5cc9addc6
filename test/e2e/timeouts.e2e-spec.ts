import { connect, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseResponse, WireResponse } from '../helpers/fuzz-http';
import { startTestApp, TestApp } from '../helpers/test-app';

/** Short settings, so that each slow client is cut off within seconds. */
const HEADERS_TIMEOUT_S = 1;
const REQUEST_TIMEOUT_S = 2;
const KEEP_ALIVE_TIMEOUT_S = 1;
/** How late a cut may come on a loaded machine: Node checks every 250 ms here, the rest is scheduling. */
const SLACK_MS = 5000;

/** A raw connection that records what the server sends and when it closes. */
interface Watched {
  socket: Socket;
  openedAt: number;
  data: () => Buffer;
  /** Resolves with the time the server ended the connection (or rejects after `deadlineMs`). */
  closed: (deadlineMs: number) => Promise<number>;
}

function open(port: number): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let data = Buffer.alloc(0);
    let closedAt: number | undefined;
    socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
    const markClosed = () => (closedAt ??= performance.now());
    socket.on('end', markClosed);
    socket.on('close', markClosed);
    socket.on('error', markClosed);
    socket.once('connect', () =>
      resolve({
        socket,
        openedAt: performance.now(),
        data: () => data,
        closed: async (deadlineMs) => {
          const deadline = performance.now() + deadlineMs;
          while (closedAt === undefined) {
            if (performance.now() > deadline) throw new Error(`the server kept the connection open for more than ${deadlineMs} ms`);
            await new Promise((r) => setTimeout(r, 20));
          }
          return closedAt;
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** Writes `chunk` every `everyMs` while the connection is open. */
function trickle(connection: Watched, chunk: string, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (!connection.socket.destroyed && connection.socket.writable) connection.socket.write(chunk);
  }, everyMs);
  return () => clearInterval(timer);
}

function responseOf(connection: Watched): WireResponse {
  const parsed = parseResponse(connection.data(), false, true);
  expect(parsed, `a response, got ${JSON.stringify(connection.data().toString('latin1').slice(0, 200))}`).toBeDefined();
  return parsed!.response;
}

function expectTimeoutAnswer(response: WireResponse): void {
  expect(response.status).toBe(408);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers.connection).toBe('close');
  expect(JSON.parse(response.text)).toEqual({ error: 'invalid_request', error_description: 'the request did not arrive in time' });
}

/**
 * Slow clients (slowloris and friends) are cut off: the head must arrive within
 * HEADERS_TIMEOUT of connecting, the whole request within REQUEST_TIMEOUT, and an idle
 * keep-alive connection closes after KEEP_ALIVE_TIMEOUT. Each over a real socket.
 */
describe('timeouts against slow clients', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp({
      env: { HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S), REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S), KEEP_ALIVE_TIMEOUT: String(KEEP_ALIVE_TIMEOUT_S) },
    });
    port = Number(new URL(t.baseUrl).port);
  });
  afterAll(() => t?.close());

  /** Opens a connection, sends `head`, trickles `chunk` (if any), and expects a 408 no sooner than `seconds` after connecting. */
  const expectCutOff = async (seconds: number, head: string, chunk?: string) => {
    const connection = await open(port);
    if (head) connection.socket.write(head);
    const stop = chunk !== undefined ? trickle(connection, chunk, 200) : () => undefined;
    try {
      const closedAt = await connection.closed(seconds * 1000 + SLACK_MS);
      expect(closedAt - connection.openedAt).toBeGreaterThanOrEqual(seconds * 1000 - 50);
    } finally {
      stop();
    }
    expectTimeoutAnswer(responseOf(connection));
  };

  it('answers 408 in JSON and closes a connection that sends nothing within HEADERS_TIMEOUT', async () => {
    await expectCutOff(HEADERS_TIMEOUT_S, '');
  });

  it('answers 408 and closes a connection that trickles its headers past HEADERS_TIMEOUT', async () => {
    await expectCutOff(HEADERS_TIMEOUT_S, 'GET /health/live HTTP/1.1\r\nHost: x\r\n', 'X-Slow: a\r\n');
  });

  it('answers 408 and closes a connection that trickles its body past REQUEST_TIMEOUT', async () => {
    const head = 'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n';
    await expectCutOff(REQUEST_TIMEOUT_S, head, 'a');
  });

  it('closes an idle keep-alive connection after KEEP_ALIVE_TIMEOUT, having answered its request', async () => {
    const connection = await open(port);
    connection.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    const deadline = performance.now() + SLACK_MS;
    while (!parseResponse(connection.data(), false, false)) {
      if (performance.now() > deadline) throw new Error('no answer to the request');
      await new Promise((r) => setTimeout(r, 10));
    }
    const answeredAt = performance.now();
    const response = responseOf(connection);
    expect(response.status).toBe(200);
    expect(response.headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_TIMEOUT_S}`);
    const closedAt = await connection.closed(KEEP_ALIVE_TIMEOUT_S * 1000 + SLACK_MS);
    expect(closedAt - answeredAt).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_S * 1000 - 100);
    // Nothing more was sent: an idle connection is closed, not answered.
    expect(parseResponse(connection.data(), false, true)!.used).toBe(connection.data().length);
  });

  it('serves a client that is slow but within the limits', async () => {
    const connection = await open(port);
    const head = 'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    // The head in three parts, over about half of HEADERS_TIMEOUT.
    for (const part of [head.slice(0, 10), head.slice(10, 30), head.slice(30)]) {
      connection.socket.write(part);
      await new Promise((r) => setTimeout(r, (HEADERS_TIMEOUT_S * 1000) / 6));
    }
    await connection.closed(SLACK_MS);
    expect(responseOf(connection).status).toBe(200);
  });
});
