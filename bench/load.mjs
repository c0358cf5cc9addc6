// Load generator worker: runs one autocannon measurement (after a warm-up) and prints
// its summary as one JSON line. run.mjs starts it in its own process, pinned to its
// own CPU with taskset, so the load generator never competes with the server.
//
// stdin: {"url", "connections", "duration", "warmup", "timeout", "requests": [{"method","path","headers","body"}]}
// Several requests are sent in turn by every connection (e.g. one per access token).
import autocannon from 'autocannon';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString());

if (!Array.isArray(spec.requests) || spec.requests.length === 0) throw new Error('load.mjs: spec.requests must be a non-empty array');

function options(duration) {
  return {
    url: spec.url,
    connections: spec.connections ?? 16,
    duration,
    pipelining: 1,
    timeout: spec.timeout ?? 10,
    // Prebuilt requests (no setupRequest): every connection cycles through them at no per-request cost.
    requests: spec.requests,
  };
}

if (spec.warmup > 0) await autocannon(options(spec.warmup));

// autocannon's own latency histogram has 1 ms resolution; keep every response time
// (float ms) so sub-millisecond percentiles are meaningful.
let latencies = new Float64Array(1 << 16);
let count = 0;
const instance = autocannon(options(spec.duration));
instance.on('response', (_client, _status, _bytes, responseTime) => {
  if (count === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[count++] = responseTime;
});
const result = await instance;

const sorted = latencies.subarray(0, count).sort();
const percentile = (p) => (count ? Math.round(sorted[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)] * 1000) / 1000 : null);

const elapsedS = (new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000 || result.duration;
const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, Number(stats.count)]));
process.stdout.write(
  JSON.stringify({
    requests_total: result.requests.total,
    elapsed_s: elapsedS,
    requests_per_sec: Math.round((result.requests.total / elapsedS) * 10) / 10,
    latency_ms: {
      p50: percentile(50),
      p90: percentile(90),
      p99: percentile(99),
      max: percentile(100),
      mean: count ? Math.round((sorted.reduce((sum, value) => sum + value, 0) / count) * 1000) / 1000 : null,
    },
    responses_timed: count,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    status_codes: statusCodes,
  }) + '\n',
);
