import { Server, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** How long a connection accepted before shutdown may take to send its first request. */
const FIRST_REQUEST_GRACE_MS = 1_000;
const POLL_MS = 10;

/**
 * Makes closing the HTTP server end connections that never sent a request. Node's
 * `server.close()` closes idle keep-alive connections and waits for every other one; a
 * connection accepted but silent (a browser's preconnect, a TCP probe, a client that
 * connected just before the end) counts as busy until the request timeout, so it would
 * hold the shutdown past its deadline. Before Fastify closes the server, this stops
 * accepting connections, gives the silent ones a moment to send their request (a request
 * already on its way is served), then closes those that stayed silent.
 */
export function endSilentConnectionsOnClose(fastify: FastifyInstance): void {
  const accepted = new Map<Socket, number>();
  fastify.server.on('connection', (socket: Socket) => {
    accepted.set(socket, Date.now());
    socket.once('close', () => accepted.delete(socket));
  });
  fastify.addHook('preClose', async () => {
    // Stop listening now, without http's close() (Fastify calls it next, once this hook is done).
    Server.prototype.close.call(fastify.server);
    const silent = () => [...accepted].filter(([socket]) => socket.bytesRead === 0);
    const deadline = Date.now() + FIRST_REQUEST_GRACE_MS;
    while (Date.now() < deadline && silent().length > 0) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    for (const [socket] of silent()) socket.destroy();
  });
}
