// Tests plugin.js, the glue, in node: its `vitals:check/host@0.2.0` import resolves to a fake host
// (test-support/fake-host.js) that this test configures, and `fetch` is a stub.
import { register } from 'node:module';
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as host from './test-support/fake-host.js';

register('./test-support/hooks.js', import.meta.url);
const plugin = await import('./plugin.js');

const description = plugin.describe();
const URL_ = 'https://orders.internal/health';
const realFetch = globalThis.fetch;
let requests = [];

// Answer every request with `status` and `body` (an object is sent as JSON).
function serve(status, body) {
  globalThis.fetch = async (url, init) => {
    requests.push({ url, method: init.method, headers: init.headers });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  };
}

afterEach(() => {
  globalThis.fetch = realFetch;
  requests = [];
});

// check() with the operator's config `values` (strings, as in vitals.toml).
function checkWith(values, options) {
  host.configure(description, values, options);
  return plugin.check();
}

test('describe declares the config keys checkOnce reads', () => {
  assert.equal(description.name, 'http-json');
  assert.deepEqual(
    description.config.map((k) => [k.name, k.required, k.default]),
    [
      ['url', true, undefined],
      ['method', false, 'GET'],
      ['conditions', false, '[STATUS] == 200'],
      ['warn_conditions', false, undefined],
      ['timeout_ms', false, '5000'],
      ['header.', false, undefined],
    ],
  );
  for (const key of description.config) assert.ok(key.help.length > 0, `${key.name} has no help`);
  assert.throws(() => host.configure(description, {}), /`url` is required/);
});

test('header.NAME keys are a declared family; a misspelled family is refused', () => {
  host.configure(description, { url: URL_, 'header.X-Probe': 'vitals' });
  assert.throws(
    () => host.configure(description, { url: URL_, 'headers.X-Probe': 'vitals' }),
    /`headers.X-Probe` is not declared/,
  );
});

test('a response that meets every condition passes', async () => {
  serve(200, { status: 'UP', db: { replicas: ['a', 'b'] } });
  const result = await checkWith({
    url: URL_,
    conditions: '[STATUS] == 200; [BODY].status == UP',
    warn_conditions: 'len([BODY].db.replicas) >= 2',
  });
  assert.equal(result.status, 'pass');
  assert.match(result.output, /^HTTP 200 in [\d.]+ ms, 3 conditions met$/);
  assert.equal(result.observed.unit, 'ms');
  assert.deepEqual(result.details, [
    ['url', URL_],
    ['http_status', '200'],
    ['conditions', '3'],
  ]);
  assert.deepEqual(requests, [{ url: URL_, method: 'GET', headers: {} }]);
});

test('the declared defaults are what check uses when a key is unset', async () => {
  serve(200, {});
  const filled = await checkWith({ url: URL_ });
  const unfilled = await checkWith({ url: URL_ }, { defaults: false });
  for (const result of [filled, unfilled]) {
    assert.equal(result.status, 'pass');
    assert.match(result.output, /, 1 conditions met$/);
  }
  assert.deepEqual(filled.details, unfilled.details);
  assert.deepEqual(requests.map((r) => r.method), ['GET', 'GET']);
});

test('unmet conditions fail, unmet warn conditions warn, each named with what it saw', async () => {
  serve(503, { status: 'DOWN' });
  const failed = await checkWith({ url: URL_, conditions: '[STATUS] == 200; [BODY].status == UP', method: 'head' });
  assert.equal(failed.status, 'fail');
  assert.match(failed.output, /; unmet: \[STATUS\] == 200 \(was 503\); \[BODY\]\.status == UP \(was "DOWN"\)$/);
  assert.deepEqual(failed.details.slice(3), [
    ['unmet: [STATUS] == 200', '503'],
    ['unmet: [BODY].status == UP', '"DOWN"'],
  ]);
  assert.equal(requests[0].method, 'HEAD');
  assert.equal(host.logged.length, 1);

  serve(200, { latency: 40 });
  const warned = await checkWith({ url: URL_, warn_conditions: '[BODY].latency < 10' });
  assert.equal(warned.status, 'warn');
  assert.match(warned.output, /unmet: \[BODY\]\.latency < 10 \(was 40\)$/);
});

test('an unreachable URL or a slow one fails', async () => {
  globalThis.fetch = async () => {
    throw new TypeError('connection refused');
  };
  const refused = await checkWith({ url: URL_ });
  assert.equal(refused.status, 'fail');
  assert.equal(refused.output, `GET ${URL_} failed: connection refused`);

  globalThis.fetch = (url, init) =>
    new Promise((_, reject) => {
      init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    });
  const slow = await checkWith({ url: URL_, timeout_ms: '20' });
  assert.equal(slow.status, 'fail');
  assert.equal(slow.output, `GET ${URL_} failed: no response within 20 ms`);
});

test('a config mistake throws a string naming it, without a stack', async () => {
  serve(200, {});
  await assert.rejects(
    checkWith({ url: URL_, timeout_ms: 'soon' }),
    (e) => e === 'config value `timeout_ms` must be a positive number, got "soon"',
  );
  await assert.rejects(
    checkWith({ url: URL_, conditions: '[STATUS]=200' }),
    (e) => typeof e === 'string' && e.startsWith('condition "[STATUS]=200":') && !e.includes('\n'),
  );
  assert.deepEqual(requests, []);
});

test('an unexpected error is passed on as a string with its message and stack', async () => {
  serve(500, {});
  host.configure(description, { url: URL_ });
  host.failNext('log', 'the log went away', TypeError);
  await assert.rejects(
    plugin.check(),
    (e) => typeof e === 'string' && e.startsWith('TypeError: the log went away\n') && /plugin\.js:\d+/.test(e),
  );
});
