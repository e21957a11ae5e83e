// Conditions on an HTTP response, in the style of `[STATUS] == 200` or
// `[BODY].database.status == "up"`. Pure: no host calls, so `node --test` covers it natively.

const OPERATORS = ['==', '!=', '<=', '>=', '<', '>'];

/**
 * Parse a list of conditions separated by `;` or newlines. Throws an Error naming the bad one.
 * @param {string} text
 * @returns {{ source: string, subject: string, path: (string|number)[], length: boolean, op: string, expected: string|number }[]}
 */
export function parseConditions(text) {
  return text
    .split(/[;\n]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(parseCondition);
}

function parseCondition(source) {
  let op = null;
  let at = -1;
  for (const candidate of OPERATORS) {
    const i = source.indexOf(` ${candidate} `);
    if (i >= 0 && (at < 0 || i < at)) {
      op = candidate;
      at = i;
    }
  }
  if (op === null) {
    throw new Error(`condition "${source}": expected LEFT OP RIGHT with OP one of ${OPERATORS.join(' ')}, spaces around it`);
  }
  let left = source.slice(0, at).trim();
  const right = source.slice(at + op.length + 2).trim();
  let length = false;
  const len = /^len\((.*)\)$/.exec(left);
  if (len) {
    length = true;
    left = len[1].trim();
  }
  const m = /^\[(STATUS|RESPONSE_TIME|BODY)\](.*)$/.exec(left);
  if (!m) {
    throw new Error(`condition "${source}": the left side must be [STATUS], [RESPONSE_TIME], [BODY] or [BODY].path`);
  }
  const subject = m[1];
  const path = parsePath(m[2], source);
  if (path.length > 0 && subject !== 'BODY') {
    throw new Error(`condition "${source}": only [BODY] has fields`);
  }
  return { source, subject, path, length, op, expected: literal(right) };
}

function parsePath(rest, source) {
  const path = [];
  const re = /\.([A-Za-z0-9_$-]+)|\[(\d+)\]/y;
  let at = 0;
  while (at < rest.length) {
    re.lastIndex = at;
    const m = re.exec(rest);
    if (!m) {
      throw new Error(`condition "${source}": cannot read the field path "${rest}" (use .name and [index])`);
    }
    path.push(m[1] !== undefined ? m[1] : Number(m[2]));
    at = re.lastIndex;
  }
  return path;
}

function literal(text) {
  const quoted = /^"(.*)"$/.exec(text) ?? /^'(.*)'$/.exec(text);
  if (quoted) return quoted[1];
  const n = Number(text);
  return text !== '' && Number.isFinite(n) ? n : text;
}

/**
 * What conditions look at: the status, the latency and the body, parsed as JSON on first use
 * (`undefined` when it is not JSON).
 * @param {number} status
 * @param {number} responseTimeMs
 * @param {string} body
 */
export function responseView(status, responseTimeMs, body) {
  let parsed;
  return {
    status,
    responseTimeMs,
    body,
    json() {
      if (parsed === undefined) {
        try {
          parsed = { value: JSON.parse(body) };
        } catch {
          parsed = { value: undefined };
        }
      }
      return parsed.value;
    },
  };
}

/**
 * Evaluate one parsed condition against a response.
 * @param {{ subject: string, path: (string|number)[], length: boolean, op: string, expected: string|number, source: string }} condition
 * @param {{ status: number, responseTimeMs: number, body: string, json: () => unknown }} response
 * @returns {{ ok: boolean, actual: unknown }}
 */
export function evaluate(condition, response) {
  let actual;
  if (condition.subject === 'STATUS') actual = response.status;
  else if (condition.subject === 'RESPONSE_TIME') actual = response.responseTimeMs;
  else if (condition.path.length === 0) actual = response.body;
  else actual = lookup(response.json(), condition.path);
  if (condition.length) {
    if (Array.isArray(actual)) actual = actual.length;
    else if (actual === null || actual === undefined) actual = 0;
    else if (typeof actual === 'object') actual = Object.keys(actual).length;
    else actual = String(actual).length;
  }
  return { ok: compare(actual, condition.op, condition.expected), actual };
}

function lookup(value, path) {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = at[key];
  }
  return at;
}

function compare(actual, op, expected) {
  if (actual === undefined) return op === '!=';
  const numeric = typeof expected === 'number' && (typeof actual === 'number' || (typeof actual === 'string' && actual.trim() !== '' && Number.isFinite(Number(actual))));
  const a = numeric ? Number(actual) : typeof actual === 'object' ? JSON.stringify(actual) : String(actual);
  const e = numeric ? expected : String(expected);
  switch (op) {
    case '==': return a === e;
    case '!=': return a !== e;
    case '<': return a < e;
    case '<=': return a <= e;
    case '>': return a > e;
    case '>=': return a >= e;
    default: return false;
  }
}

/** A short rendering of a value for output and details. */
export function show(value) {
  if (value === undefined) return 'missing';
  if (typeof value === 'number') return String(Math.round(value * 10) / 10);
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
