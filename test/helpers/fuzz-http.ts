import { connect, Socket } from 'node:net';

/**
 * A tiny HTTP/1.1 client over raw sockets, for the fuzz and limit specs: it sends bytes
 * exactly as given (methods, header names and values, request targets that `fetch` would
 * refuse to send), so that Node's own HTTP parser sees them before Fastify does, and it
 * reads whatever comes back (including Node's answers to requests it cannot parse).
 */

/** One response as it came off the wire. */
export interface WireResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
}

/** A request as raw parts; `body` gets a matching Content-Length unless the headers frame it themselves. */
export interface WireRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer | string;
}

const CRLF = '\r\n';

/** The bytes of a request: request line, headers (Host added when missing), Content-Length, body. */
export function encodeRequest(request: WireRequest, host: string): Buffer {
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const names = new Set(request.headers.map(([name]) => name.toLowerCase()));
  const lines = [`${request.method} ${request.target} HTTP/1.1`];
  if (!names.has('host')) lines.push(`Host: ${host}`);
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'latin1'), body ?? Buffer.alloc(0)]);
}

/**
 * Parses one response from the start of `data`. Returns undefined while it is incomplete
 * (or, with `ended`, whatever could be read), and the number of bytes it used.
 */
export function parseResponse(data: Buffer, headRequest: boolean, ended: boolean): { response: WireResponse; used: number } | undefined {
  let offset = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) return undefined;
    const lines = data.subarray(offset, headEnd).toString('latin1').split(CRLF);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? NaN);
    if (Number.isNaN(status)) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart; // 100 Continue and friends: the real response follows
      continue;
    }
    const done = (body: Buffer, used: number) => ({ response: { status, headers, body, text: body.toString('utf8') }, used });
    if (headRequest || status === 204 || status === 304) return done(Buffer.alloc(0), bodyStart);
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let position = bodyStart;
      for (;;) {
        const lineEnd = data.indexOf(CRLF, position);
        if (lineEnd < 0) return undefined;
        const size = parseInt(data.subarray(position, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('malformed chunked response');
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd < 0) return undefined;
          return done(Buffer.concat(chunks), trailerEnd + 4);
        }
        if (data.length < lineEnd + 2 + size + 2) return undefined;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        position = lineEnd + 2 + size + 2;
      }
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (data.length < bodyStart + length) return ended ? done(data.subarray(bodyStart), data.length) : undefined;
      return done(data.subarray(bodyStart, bodyStart + length), bodyStart + length);
    }
    // Neither length nor chunks: the body runs until the server closes the connection.
    return ended ? done(data.subarray(bodyStart), data.length) : undefined;
  }
}

/** Why a wire exchange produced no response. */
export class NoResponseError extends Error {}

/**
 * Sends raw bytes on a new connection and collects the first response; resolves undefined
 * when the server closed the connection without answering. `halfClose` ends the sending
 * side after the bytes (for input that is not a complete request).
 */
export function exchangeOnce(
  port: number,
  bytes: Buffer,
  options: { headRequest?: boolean; halfClose?: boolean; timeoutMs?: number } = {},
): Promise<WireResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, response?: WireResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(response);
    };
    const timer = setTimeout(() => finish(new NoResponseError(`no response within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      try {
        const parsed = parseResponse(data, options.headRequest === true, false);
        if (parsed) finish(undefined, parsed.response);
      } catch (error) {
        finish(error as Error);
      }
    });
    const ended = () => {
      try {
        finish(undefined, data.length === 0 ? undefined : parseResponse(data, options.headRequest === true, true)?.response);
      } catch (error) {
        finish(error as Error);
      }
    };
    socket.on('end', ended);
    socket.on('close', ended);
    // The server may reset a connection it refuses; what it answered first still counts.
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? ended() : finish(error)));
  });
}

interface PooledConnection {
  socket: Socket;
  data: Buffer;
  closed: boolean;
  onChange?: () => void;
}

/**
 * Keep-alive connections to one server, reused while the server keeps them open, so that
 * thousands of fuzzed requests do not each cost a connection (and a port in TIME_WAIT).
 */
export class WireClient {
  private readonly idle: PooledConnection[] = [];
  private readonly all = new Set<PooledConnection>();

  constructor(
    readonly port: number,
    private readonly timeoutMs = 10_000,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Sends one request and reads its response; undefined when the server closed without answering. */
  async send(request: WireRequest): Promise<WireResponse | undefined> {
    const bytes = encodeRequest(request, this.host);
    const reused = this.idle.pop();
    const response = await this.exchange(reused ?? (await this.open()), bytes, request);
    // A kept-alive connection the server closed just before our request was written: once more, fresh.
    if (response === undefined && reused !== undefined) return this.exchange(await this.open(), bytes, request);
    return response;
  }

  private exchange(connection: PooledConnection, bytes: Buffer, request: WireRequest): Promise<WireResponse | undefined> {
    connection.data = Buffer.alloc(0);
    connection.socket.write(bytes);
    const headRequest = request.method.toUpperCase() === 'HEAD';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.onChange = undefined;
        this.discard(connection);
        reject(new NoResponseError(`no response to ${request.method} ${request.target.slice(0, 80)} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const check = () => {
        let parsed: ReturnType<typeof parseResponse>;
        try {
          parsed = parseResponse(connection.data, headRequest, connection.closed);
        } catch (error) {
          clearTimeout(timer);
          connection.onChange = undefined;
          this.discard(connection);
          reject(error as Error);
          return;
        }
        if (!parsed && !connection.closed) return;
        clearTimeout(timer);
        connection.onChange = undefined;
        const response = parsed?.response;
        // After a request that framed its own body (Content-Length, Transfer-Encoding) the server
        // may read what comes next as body, and after one that asked for an Upgrade (with a body)
        // Node stops parsing the connection: neither connection is used again.
        const ownFraming = request.headers.some(([name]) => /^(content-length|transfer-encoding|upgrade)$/i.test(name.trim()));
        const reusable =
          response !== undefined &&
          !ownFraming &&
          !connection.closed &&
          !/close/i.test(response.headers.connection ?? '') &&
          parsed!.used === connection.data.length;
        if (reusable) this.idle.push(connection);
        else this.discard(connection);
        resolve(response);
      };
      connection.onChange = check;
      check();
    });
  }

  /** Closes every connection. */
  close(): void {
    for (const connection of this.all) connection.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private open(): Promise<PooledConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port: this.port, host: '127.0.0.1' });
      const connection: PooledConnection = { socket, data: Buffer.alloc(0), closed: false };
      const closed = () => {
        connection.closed = true;
        const index = this.idle.indexOf(connection);
        if (index >= 0) this.idle.splice(index, 1);
        connection.onChange?.();
      };
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => {
        connection.data = Buffer.concat([connection.data, chunk]);
        connection.onChange?.();
      });
      socket.on('end', closed);
      socket.on('close', closed);
      socket.on('error', () => closed());
      socket.once('connect', () => {
        this.all.add(connection);
        resolve(connection);
      });
      socket.once('error', reject);
    });
  }

  private discard(connection: PooledConnection): void {
    connection.socket.destroy();
    this.all.delete(connection);
  }
}
