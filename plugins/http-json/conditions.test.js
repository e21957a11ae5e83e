import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConditions, evaluate, responseView } from './conditions.js';

const response = (status, body, responseTimeMs = 12) => responseView(status, responseTimeMs, body);

const check = (conditions, res) => parseConditions(conditions).map((c) => evaluate(c, res).ok);

test('status, latency and body fields compare as numbers or text', () => {
  const res = response(200, '{"status":"UP","db":{"latency":4,"replicas":["a","b"]},"version":"1.2"}');
  assert.deepEqual(
    check('[STATUS] == 200; [RESPONSE_TIME] < 100; [BODY].status == UP; [BODY].db.latency <= 4', res),
    [true, true, true, true],
  );
  assert.deepEqual(check('[BODY].db.replicas[1] == "b"; len([BODY].db.replicas) >= 2', res), [true, true]);
  assert.deepEqual(check('[STATUS] != 200; [BODY].status == DOWN; [RESPONSE_TIME] > 100', res), [false, false, false]);
});

test('a missing field only satisfies !=', () => {
  const res = response(200, '{"a":1}');
  assert.deepEqual(check('[BODY].b == 1; [BODY].b != 1; [BODY].a.b.c == 1', res), [false, true, false]);
});

test('a body that is not JSON fails field conditions but not text ones', () => {
  const res = response(503, 'service unavailable');
  assert.deepEqual(check('[BODY].status == UP; [BODY] == "service unavailable"; len([BODY]) > 5', res), [false, true, true]);
});

test('malformed conditions are rejected with the condition named', () => {
  assert.throws(() => parseConditions('[STATUS]=200'), /"\[STATUS\]=200"/);
  assert.throws(() => parseConditions('[HEADERS].x == 1'), /left side/);
  assert.throws(() => parseConditions('[STATUS].x == 1'), /only \[BODY\]/);
  assert.deepEqual(parseConditions(' ;\n '), []);
});
