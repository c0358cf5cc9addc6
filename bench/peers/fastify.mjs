// Baseline: a bare Fastify route (GET / answers {"status":"ok"}), the ceiling of the machine for
// a Node.js HTTP server. Started by servers.mjs as its own process; BENCH_PEER_CONFIG: { port }.
import Fastify from 'fastify';
import { exitOnSignal, peerConfig } from './shared.mjs';

const { port } = peerConfig(['port']);

const app = Fastify({ logger: false });
app.get('/', async () => ({ status: 'ok' }));
await app.listen({ port, host: '127.0.0.1' });
process.stderr.write(`fastify listening on port ${port}\n`);

exitOnSignal(() => app.close());
