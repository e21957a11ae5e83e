// http-json: the WIT glue. Sends one request, then checks conditions on its status, latency and
// (JSON) body. The logic lives in conditions.js.
import { configGet, configKeys, log } from 'vitals:check/host@0.2.0';
import { parseConditions, evaluate, responseView, show } from './conditions.js';

const VERSION = '0.1.0';

// The config keys checkOnce reads. The host rejects a config that sets any other key. `header.`
// is a family (a name ending in `.`): headers() finds its keys through configKeys().
const CONFIG = [
  { name: 'url', required: true, default: undefined, help: 'Absolute http:// or https:// URL to request (grant it with allow_http)' },
  { name: 'method', required: false, default: 'GET', help: 'HTTP method of the request' },
  { name: 'conditions', required: false, default: '[STATUS] == 200', help: 'Conditions that must all hold, else fail; separated by ; or newlines' },
  { name: 'warn_conditions', required: false, default: undefined, help: 'Conditions that must all hold, else warn; separated by ; or newlines' },
  { name: 'timeout_ms', required: false, default: '5000', help: 'Milliseconds to wait for the response before failing' },
  { name: 'header.', required: false, default: undefined, help: 'header.NAME = VALUE sends request header NAME' },
];

export function describe() {
  return {
    name: 'http-json',
    version: VERSION,
    summary: 'Requests a URL and checks conditions on its status, latency and JSON body',
    defaults: { intervalMs: 15000, timeoutMs: 10000, critical: undefined },
    config: CONFIG,
  };
}

function setting(key) {
  return configGet(key) ?? undefined;
}

function number(key, fallback) {
  const text = setting(key);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`config value \`${key}\` must be a positive number, got "${text}"`);
  return n;
}

function headers() {
  const out = {};
  for (const key of configKeys()) {
    if (key.startsWith('header.')) out[key.slice('header.'.length)] = setting(key);
  }
  return out;
}

// An exception that is not a config mistake (a bug) is passed on with its stack: the engine
// accepts only a string for the error, and would trap on an Error object without its message.
export async function check() {
  try {
    return await checkOnce();
  } catch (e) {
    throw typeof e === 'string' ? e : `${e}\n${e?.stack ?? ''}`.trim();
  }
}

async function checkOnce() {
  let url, method, failConditions, warnConditions, timeoutMs;
  try {
    url = setting('url');
    if (!url) throw new Error('config value `url` is required');
    method = (setting('method') ?? 'GET').toUpperCase();
    failConditions = parseConditions(setting('conditions') ?? '[STATUS] == 200');
    warnConditions = parseConditions(setting('warn_conditions') ?? '');
    timeoutMs = number('timeout_ms', 5000);
  } catch (e) {
    // A config mistake: the check cannot be evaluated, which the host records as unknown.
    throw e.message;
  }

  const started = performance.now();
  let response;
  let body;
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      response = await fetch(url, { method, headers: headers(), signal: controller.signal });
      body = await response.text();
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    const elapsed = performance.now() - started;
    const why = e.name === 'AbortError' ? `no response within ${timeoutMs} ms` : e.message;
    return {
      status: 'fail',
      output: `${method} ${url} failed: ${why}`,
      observed: { value: round(elapsed), unit: 'ms' },
      details: [['url', url]],
    };
  }
  const elapsed = performance.now() - started;

  const view = responseView(response.status, elapsed, body);

  const details = [
    ['url', url],
    ['http_status', String(response.status)],
    ['conditions', String(failConditions.length + warnConditions.length)],
  ];
  const failed = [];
  for (const [conditions, level] of [[failConditions, 'fail'], [warnConditions, 'warn']]) {
    for (const condition of conditions) {
      const { ok, actual } = evaluate(condition, view);
      if (!ok) {
        failed.push({ level, text: `${condition.source} (was ${show(actual)})` });
        details.push([`unmet: ${condition.source}`, show(actual)]);
      }
    }
  }
  const status = failed.some((f) => f.level === 'fail') ? 'fail' : failed.length > 0 ? 'warn' : 'pass';
  const summary = `HTTP ${response.status} in ${round(elapsed)} ms`;
  if (failed.length > 0) log('debug', `${url}: ${failed.map((f) => f.text).join('; ')}`);
  return {
    status,
    output: failed.length === 0 ? `${summary}, ${failConditions.length + warnConditions.length} conditions met` : `${summary}; unmet: ${failed.map((f) => f.text).join('; ')}`,
    observed: { value: round(elapsed), unit: 'ms' },
    details,
  };
}

function round(ms) {
  return Math.round(ms * 10) / 10;
}
