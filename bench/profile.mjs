// Where the time goes: summaries of the V8 CPU profiles that `node --cpu-prof` writes when the
// profiled server exits (BENCH_PROFILE=1), restricted to the measured windows of a scenario.
// Profile timestamps and the load generator's windows (process.hrtime) are both microseconds /
// nanoseconds of the same monotonic clock, so a window selects its samples exactly.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every .cpuprofile in `dir` (one per process: a cluster writes one per worker too). */
export function readProfiles(dir) {
  let files = [];
  try {
    files = readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return files.map((file) => ({ file, profile: JSON.parse(readFileSync(join(dir, file), 'utf8')) }));
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);
/** Frames of Node.js's event loop that include nearly everything: left out of the inclusive ranking. */
const PLUMBING = new Set(['(root)', 'processTicksAndRejections', 'runMicrotasks', 'processImmediate', 'listOnTimeout']);

/** A profile location relative to the repository (never an absolute path of the machine). */
function where(url, line, root) {
  if (!url) return '';
  let path = url.replace(/^file:\/\//, '');
  if (root && path.startsWith(`${root}/`)) path = path.slice(root.length + 1);
  else if (path.startsWith('/')) path = path.replace(/^.*\/node_modules\//, 'node_modules/');
  return line >= 0 ? `${path}:${line + 1}` : path;
}

/** The part of the code a location belongs to: a package, Gatehouse's own code, Node.js itself. */
function area(name, path) {
  if (SPECIAL.has(name)) return name;
  if (!path) return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1];
  if (path.startsWith('node:')) return 'node.js';
  if (path.startsWith('dist/') || path.startsWith('src/')) return 'gatehouse';
  return path.split('/')[0];
}

const round1 = (value) => Math.round(value * 10) / 10;

/**
 * Self and inclusive time per function over the samples of `profiles` that fall inside one of
 * `windows` ([startNs, endNs] as strings or bigints). Percentages are of the busy (non-idle) time.
 */
export function summarize(profiles, windows, { root, top = 10 } = {}) {
  const ranges = windows.map(([start, end]) => [Number(BigInt(start) / 1000n), Number(BigInt(end) / 1000n)]);
  const self = new Map();
  const inclusive = new Map();
  const areas = new Map();
  let busyUs = 0;
  let idleUs = 0;
  let samples = 0;
  const add = (map, key, value) => map.set(key, (map.get(key) ?? 0) + value);

  for (const { profile } of profiles) {
    const parent = new Map();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const label = new Map();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const name = functionName || '(anonymous)';
      const path = where(url, lineNumber, root);
      label.set(node.id, { key: `${name}\u0000${path}`, name, path, area: area(name, path) });
    }
    let time = profile.startTime;
    for (let index = 0; index < profile.samples.length; index++) {
      const delta = profile.timeDeltas[index] ?? 0;
      time += delta;
      if (!ranges.some(([start, end]) => time >= start && time <= end)) continue;
      samples++;
      const leaf = label.get(profile.samples[index]);
      if (leaf.name === '(idle)') {
        idleUs += delta;
        continue;
      }
      busyUs += delta;
      add(self, leaf.key, delta);
      add(areas, leaf.area, delta);
      const seen = new Set();
      for (let id = profile.samples[index]; id !== undefined; id = parent.get(id)) {
        const { key, name } = label.get(id);
        if (PLUMBING.has(name) || seen.has(key)) continue;
        seen.add(key);
        add(inclusive, key, delta);
      }
    }
  }

  const percent = (us) => (busyUs ? round1((us / busyUs) * 100) : 0);
  const ranked = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => {
        const [name, path] = key.split('\u0000');
        return { function: name, where: path, ms: round1(us / 1000), percent: percent(us) };
      });
  return {
    samples,
    busy_ms: round1(busyUs / 1000),
    idle_ms: round1(idleUs / 1000),
    by_area: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ area: name, percent: percent(us) })),
    self: ranked(self),
    inclusive: ranked(inclusive),
  };
}

/** A short markdown summary of one scenario's profile. */
export function profileMarkdown(scenario, server, summary) {
  const total = summary.busy_ms + summary.idle_ms;
  const idle = total ? round1((summary.idle_ms / total) * 100) : 0;
  const rows = (entries) =>
    entries.map((entry) => `| ${entry.percent} | ${entry.function.replace(/\|/g, '\\|')} | ${entry.where ? `\`${entry.where}\`` : ''} |`).join('\n');
  return [
    `#### ${scenario} (${server}: ${summary.samples} samples, ${round1(summary.busy_ms / 1000)} s busy, ${idle}% idle)`,
    '',
    `Self time by area: ${summary.by_area
      .slice(0, 8)
      .map((entry) => `${entry.area} ${entry.percent}%`)
      .join(', ')}`,
    '',
    '| self % | function | where |',
    '| ---: | --- | --- |',
    rows(summary.self),
    '',
    '| inclusive % | function | where |',
    '| ---: | --- | --- |',
    rows(summary.inclusive),
  ].join('\n');
}
