import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { answerClientError, MAX_JSON_DEPTH, nestsDeeperThan } from './http-limits';

/** A socket that records what is written to it. */
function fakeSocket(state: { destroyed?: boolean; writable?: boolean } = {}): { socket: Socket; written: () => string; destroyed: () => boolean } {
  let written = '';
  let destroyed = state.destroyed ?? false;
  const socket = {
    get destroyed() {
      return destroyed;
    },
    writable: state.writable ?? true,
    end(data: string, done: () => void) {
      written += data;
      done();
    },
    destroy() {
      destroyed = true;
    },
  };
  return { socket: socket as unknown as Socket, written: () => written, destroyed: () => destroyed };
}

const clientError = (code: string) => Object.assign(new Error(code), { code });

describe('answerClientError', () => {
  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'the request did not arrive in time'],
    ['HPE_HEADER_OVERFLOW', 431, 'the request line and headers exceed 16384 bytes'],
    ['HPE_INVALID_METHOD', 400, 'the request is not valid HTTP/1.1 (HPE_INVALID_METHOD)'],
  ])('answers %s with %i and an RFC 6749 §5.2 body, then closes', (code, status, description) => {
    const { socket, written, destroyed } = fakeSocket();
    answerClientError(clientError(code), socket);
    const [head, body] = written().split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(head).toContain('Content-Type: application/json; charset=utf-8');
    expect(head).toContain('Cache-Control: no-store');
    expect(head).toContain('Connection: close');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toEqual({ error: 'invalid_request', error_description: description });
    expect(destroyed()).toBe(true);
  });

  it('does not name an error code it does not know the shape of', () => {
    const { socket, written } = fakeSocket();
    answerClientError(clientError('some "odd" code'), socket);
    expect(JSON.parse(written().split('\r\n\r\n')[1]).error_description).toBe('the request is not valid HTTP/1.1');
  });

  it('writes nothing to a connection that is reset, gone, or no longer writable', () => {
    for (const [error, state] of [
      [clientError('ECONNRESET'), {}],
      [clientError('HPE_INVALID_METHOD'), { destroyed: true }],
      [clientError('HPE_INVALID_METHOD'), { writable: false }],
    ] as const) {
      const { socket, written } = fakeSocket(state);
      answerClientError(error, socket);
      expect(written()).toBe('');
    }
  });
});

describe('nestsDeeperThan', () => {
  const nested = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;

  it('counts objects and arrays, not scalars', () => {
    expect(nestsDeeperThan('text', 0)).toBe(false);
    expect(nestsDeeperThan({ a: 1 }, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [1] }, 1)).toBe(true);
    expect(nestsDeeperThan({ a: { b: [{}] } }, 4)).toBe(false);
    expect(nestsDeeperThan({ a: { b: [{}] } }, 3)).toBe(true);
  });

  it(`allows ${MAX_JSON_DEPTH} levels and refuses one more`, () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
  });

  it('walks a value nested 100,000 deep without overflowing the stack', () => {
    expect(nestsDeeperThan(nested(100_000), MAX_JSON_DEPTH)).toBe(true);
  });
});
