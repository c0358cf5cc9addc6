// Chained requests ("flows"), shared by load.mjs (under load, through autocannon's
// onResponse/setupRequest) and scenarios.mjs (the sample run before a scenario), so both
// check exactly the same thing.
//
// A scenario whose requests carry `expect` is a chain: every connection sends its requests
// in order, checks each response against its step's `expect`, and captures values that
// later steps use. One pass through all steps is one round trip.
//
//   step: {
//     method, path, headers?, body?,
//     expect: {
//       status,                        // the expected status (e.g. 302); default: any 2xx
//       location?: {                   // a redirect: the Location header
//         url,                         //   must be `${url}?...` (e.g. the redirect_uri)
//         params?: { name: value },    //   query parameters it must carry with these values
//         capture?: { var: param },    //   query parameters to keep for later steps (non-empty)
//       },
//       json?: [names],                // a JSON body with these string members
//       captureJson?: { var: member },  // string members of the JSON body to keep (non-empty)
//       jwt?: [names],                 // members that must be compact JWS (e.g. a JWT access token)
//     },
//   }
//
// `{{var}}` in a later step's path or body is replaced by the captured value (URL-encoded).
//
// Seeded chains (the refresh-token chain): the load spec gives `seeds`, one object of
// variables per connection (e.g. { refresh_token }). Each connection starts from its own
// seed, and the variables a seed names persist from one round trip to the next: a capture of
// that name replaces the value (the refresh token of the previous response is redeemed by the
// next request). Other captures last one round trip. Only a seeded chain's first step may use
// `{{var}}`.

const PLACEHOLDER = /\{\{(\w+)\}\}/g;
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;
/** Whether `value` looks like a compact JWS (three base64url parts), e.g. a JWT access token. */
export const isCompactJws = (value) => typeof value === 'string' && COMPACT_JWS.test(value);

/** Whether `requests` form a chain (at least one step says what it expects). */
export const isChain = (requests) => requests.some((step) => step.expect !== undefined);

/** Whether a step needs captured values, i.e. must be built per round trip. */
export const isDynamic = (step) => [step.path, step.body].some((part) => typeof part === 'string' && part.includes('{{'));

/** `template` with its placeholders filled from `vars`; null when one is missing. */
export function fill(template, vars) {
  if (typeof template !== 'string' || !template.includes('{{')) return template;
  let missing = false;
  const filled = template.replace(PLACEHOLDER, (_, name) => {
    const value = vars?.[name];
    if (value === undefined) {
      missing = true;
      return '';
    }
    return encodeURIComponent(value);
  });
  return missing ? null : filled;
}

/** A header's value from a plain object of headers, whatever the case of its name. */
function header(headers, name) {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

/** The status the step expects, as a predicate. */
export const statusExpected = (step, status) => (step.expect?.status !== undefined ? status === step.expect.status : status >= 200 && status <= 299);

/**
 * Checks one response against its step. Returns `{ problem }` (a short, stable description,
 * without the response's unique values, so that problems can be counted) or `{ captured }`.
 */
export function verify(step, status, headers, body) {
  const expect = step.expect ?? {};
  if (!statusExpected(step, status)) return { problem: `status ${status} (expected ${expect.status ?? '2xx'})` };
  const captured = {};
  if (expect.location) {
    let raw = header(headers, 'location');
    if (Array.isArray(raw)) {
      if (raw.length !== 1) return { problem: `${raw.length} Location headers` };
      [raw] = raw;
    }
    if (!raw) return { problem: 'no Location header' };
    if (!raw.startsWith(`${expect.location.url}?`)) return { problem: `Location is not ${expect.location.url}?...` };
    const query = new URLSearchParams(raw.slice(expect.location.url.length + 1));
    if (query.has('error')) return { problem: `redirected with error=${query.get('error')}` };
    for (const [name, value] of Object.entries(expect.location.params ?? {})) {
      if (query.getAll(name).length !== 1 || query.get(name) !== value) return { problem: `Location ${name} is not ${JSON.stringify(value)}` };
    }
    for (const [variable, param] of Object.entries(expect.location.capture ?? {})) {
      const value = query.get(param);
      if (!value) return { problem: `no ${param} in Location` };
      captured[variable] = value;
    }
  }
  if (expect.json || expect.captureJson || expect.jwt) {
    let json;
    try {
      json = JSON.parse(typeof body === 'string' ? body : String(body ?? ''));
    } catch {
      return { problem: 'body is not JSON' };
    }
    const members = [...(expect.json ?? []), ...Object.values(expect.captureJson ?? {})];
    for (const name of members) {
      if (typeof json?.[name] !== 'string' || json[name] === '') return { problem: `no ${name} in the JSON body` };
    }
    for (const name of expect.jwt ?? []) {
      if (!isCompactJws(json?.[name])) return { problem: `${name} is not a JWT` };
    }
    for (const [variable, member] of Object.entries(expect.captureJson ?? {})) captured[variable] = json[member];
  }
  return { captured };
}

/**
 * Runs the chain once with fetch (no redirects followed), starting from `seed` (a seeded
 * chain's variables). Returns null when every step answered as expected, else what went
 * wrong (with the response, to debug the set-up).
 */
export async function runChainOnce(baseUrl, requests, seed = {}) {
  let vars = { ...seed };
  for (const [index, step] of requests.entries()) {
    const path = fill(step.path, vars);
    const body = fill(step.body, vars);
    if (path === null || body === null) return `step ${index + 1}: a value it needs was not captured`;
    const response = await fetch(new URL(path, baseUrl), { method: step.method, headers: step.headers, body, redirect: 'manual' });
    const text = await response.text();
    const result = verify(step, response.status, Object.fromEntries(response.headers), text);
    if (result.problem) {
      const location = response.headers.get('location');
      return `step ${index + 1} (${step.method} ${path.split('?')[0]}): ${result.problem}; got ${response.status}${location ? ` Location ${location}` : ''} ${text.slice(0, 300)}`;
    }
    vars = { ...vars, ...result.captured };
  }
  return null;
}
