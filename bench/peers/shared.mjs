// Shared by the peer servers: their settings, and a clean exit on SIGTERM/SIGINT.
import { createHash, timingSafeEqual } from 'node:crypto';

/** BENCH_PEER_CONFIG (JSON, set by servers.mjs); fails when one of `required` is missing. */
export function peerConfig(required) {
  const config = JSON.parse(process.env.BENCH_PEER_CONFIG ?? '{}');
  const missing = required.filter((name) => config[name] === undefined);
  if (missing.length) throw new Error(`BENCH_PEER_CONFIG lacks ${missing.join(', ')}`);
  return config;
}

/** Exits 0 once `close()` has finished (at most 2 s) on SIGTERM or SIGINT. */
export function exitOnSignal(close) {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      Promise.resolve(close()).finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
}

/** A node:http server's close: stops listening and ends idle keep-alive connections. */
export const closeHttpServer = (server) => () =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });

const digest = (value) => createHash('sha256').update(String(value)).digest();
/** Constant-time comparison of two secrets (of any length). */
export const sameSecret = (a, b) => timingSafeEqual(digest(a), digest(b));
export { digest };
