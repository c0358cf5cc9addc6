// Load generator worker: runs one autocannon measurement (after a warm-up) and prints
// its summary as one JSON line. run.mjs starts it in its own process, pinned to its
// own CPU with taskset, so the load generator never competes with the server.
//
// stdin: {"url", "connections", "duration", "warmup", "timeout", "requests": [{"method","path","headers","body","expect"?}],
//         "seeds"?: [{ var: value }]}
// Several requests are sent in turn by every connection (e.g. one per access token).
// When the requests carry `expect` (chain.mjs), they are one chained round trip: each
// response is checked and its captured values (e.g. an authorization code from the
// Location header) go into the next request of the same connection; the summary then
// also counts round trips, responses that were not as expected, and per-step latencies.
// With `seeds` (a seeded chain, e.g. refresh tokens), every connection of the warm-up and
// then of the measurement takes the next seed: one per connection and phase.
//
// The summary also carries `window_ns`: the measurement's start and end on the monotonic
// clock (process.hrtime), which CPU profiles of the server use too.
import autocannon from 'autocannon';
import { fill, isChain, isDynamic, statusExpected, verify } from './chain.mjs';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString());

if (!Array.isArray(spec.requests) || spec.requests.length === 0) throw new Error('load.mjs: spec.requests must be a non-empty array');
const chained = isChain(spec.requests);
const seeds = Array.isArray(spec.seeds) ? spec.seeds : null;
if (chained && isDynamic(spec.requests[0]) && !seeds) throw new Error('load.mjs: the first step of a chain can only use values of a seed');
/** Variables that a seed names: they persist from one round trip of a connection to the next. */
const persistent = new Set(Object.keys(seeds?.[0] ?? {}));
let seedsTaken = 0;
function takeSeed() {
  if (seedsTaken >= seeds.length) throw new Error(`load.mjs: ${seeds.length} seeds are not enough for the connections of the warm-up and the measurement`);
  return seeds[seedsTaken++];
}

/** Every response time (float ms): autocannon's own histogram only has 1 ms resolution. */
class Samples {
  values = new Float64Array(1 << 14);
  count = 0;
  add(value) {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }
  summary() {
    const count = this.count;
    const sorted = this.values.subarray(0, count).sort();
    const round = (value) => Math.round(value * 1000) / 1000;
    const percentile = (p) => (count ? round(sorted[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]) : null);
    return {
      p50: percentile(50),
      p90: percentile(90),
      p99: percentile(99),
      max: percentile(100),
      mean: count ? round(sorted.reduce((sum, value) => sum + value, 0) / count) : null,
    };
  }
}

/** Counters of one chained run (a fresh one for the warm-up and for the measurement). */
function chainStats() {
  return {
    steps: spec.requests.map(() => ({ responses: 0, unexpected: 0, non2xx: 0, latency: new Samples() })),
    roundTrips: 0,
    roundTrip: new Samples(),
    problems: new Map(),
    // Set by a step's onResponse, read by the 'response' event that autocannon emits
    // right after it, synchronously, for the same response.
    last: null,
  };
}

/**
 * The chain as autocannon requests: onResponse checks every response and keeps what it
 * captures in the connection's context; setupRequest builds a step from it, or returns
 * null (autocannon then starts over at the first step) when an earlier step failed.
 *
 * A seeded chain keeps its persistent variables in `carry`, an object that every step
 * shares: autocannon deep-clones the options for each connection (lodash cloneDeep keeps
 * shared references shared), so each connection gets one `carry` of its own, which, unlike
 * the context, is not reset after each round trip. onResponse sees it as `this.carry` (the
 * connection's request object), setupRequest as `req.carry` (a copy of it).
 */
function chainRequests(stats) {
  const carry = {};
  return spec.requests.map((step, index) => {
    const request = { method: step.method, path: step.path, headers: step.headers, body: step.body, carry };
    request.onResponse = function (status, body, context, headers) {
      const { problem, captured } = verify(step, status, headers, body);
      const counters = stats.steps[index];
      counters.responses++;
      if (!statusExpected(step, status) && (status < 200 || status > 299)) counters.non2xx++;
      if (problem) {
        counters.unexpected++;
        const key = `step ${index + 1}: ${problem}`;
        stats.problems.set(key, (stats.problems.get(key) ?? 0) + 1);
        context.failed = true;
      } else {
        for (const [name, value] of Object.entries(captured)) {
          if (persistent.has(name)) this.carry.vars = { ...this.carry.vars, [name]: value };
          else context.vars = { ...context.vars, [name]: value };
        }
      }
      stats.last = { index, ok: !problem };
    };
    if (isDynamic(step)) {
      request.setupRequest = (req, context) => {
        // A seeded chain's first step never returns null (autocannon would stop): after a
        // failure it sends the values it has, and a broken chain keeps failing, counted.
        if (seeds) req.carry.vars ??= takeSeed();
        if (context.failed && index > 0) return null;
        const vars = { ...req.carry?.vars, ...context.vars };
        const path = fill(step.path, vars);
        const body = fill(step.body, vars);
        if (path === null || body === null) {
          if (index === 0) throw new Error('load.mjs: the first step of a chain lacks a value of its seed');
          return null;
        }
        return { ...req, path, body };
      };
    }
    return request;
  });
}

function options(duration, stats) {
  return {
    url: spec.url,
    connections: spec.connections ?? 16,
    duration,
    pipelining: 1,
    timeout: spec.timeout ?? 10,
    // Prebuilt requests (no setupRequest): every connection cycles through them at no per-request cost.
    // A chain only builds its steps that use captured values, one per round trip.
    requests: chained ? chainRequests(stats) : spec.requests,
  };
}

if (spec.warmup > 0) await autocannon(options(spec.warmup, chainStats()));

const stats = chainStats();
const latencies = new Samples();
const windowStart = process.hrtime.bigint();
const roundTripStart = new WeakMap(); // connection -> response time so far of its current round trip
const instance = autocannon(options(spec.duration, stats));
instance.on('response', (client, _status, _bytes, responseTime) => {
  latencies.add(responseTime);
  if (!chained || !stats.last) return;
  const { index, ok } = stats.last;
  stats.last = null;
  stats.steps[index].latency.add(responseTime);
  if (!ok) return roundTripStart.delete(client);
  const sofar = index === 0 ? 0 : roundTripStart.get(client);
  if (sofar === undefined) return; // the round trip started before the measurement
  if (index < spec.requests.length - 1) return roundTripStart.set(client, sofar + responseTime);
  roundTripStart.delete(client);
  stats.roundTrips++;
  stats.roundTrip.add(sofar + responseTime);
});
const result = await instance;
const windowEnd = process.hrtime.bigint();

const elapsedS = (new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000 || result.duration;
const perSecond = (count) => Math.round((count / elapsedS) * 10) / 10;
const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, counters]) => [code, Number(counters.count)]));
const summary = {
  requests_total: result.requests.total,
  elapsed_s: elapsedS,
  requests_per_sec: perSecond(result.requests.total),
  latency_ms: latencies.summary(),
  responses_timed: latencies.count,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  status_codes: statusCodes,
  window_ns: [String(windowStart), String(windowEnd)],
};
if (chained) {
  const sum = (key) => stats.steps.reduce((total, step) => total + step[key], 0);
  Object.assign(summary, {
    round_trips: stats.roundTrips,
    round_trips_per_sec: perSecond(stats.roundTrips),
    round_trip_ms: stats.roundTrip.summary(),
    // Responses outside 2xx other than a step's expected status (a 302 that is expected is fine).
    non2xx: sum('non2xx'),
    autocannon_non2xx: result.non2xx,
    // Responses that did not pass their step's check (status, Location, JSON body).
    unexpected: sum('unexpected'),
    problems: Object.fromEntries(stats.problems),
    // Round trips autocannon started over because an earlier step failed.
    resets: result.resets ?? null,
    // A seeded chain: seeds taken by the connections of the warm-up and the measurement.
    seeds_used: seeds ? seedsTaken : null,
    steps: spec.requests.map((step, index) => ({
      request: `${step.method} ${step.path.split('?')[0]}`,
      expected_status: step.expect?.status ?? '2xx',
      responses: stats.steps[index].responses,
      unexpected: stats.steps[index].unexpected,
      non2xx: stats.steps[index].non2xx,
      latency_ms: stats.steps[index].latency.summary(),
    })),
  });
}
process.stdout.write(JSON.stringify(summary) + '\n');
