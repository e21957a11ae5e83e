// Test guest (StarlingMonkey): config `mode` picks what it does, so one 12 MB component covers
// every obeyed/violated pair. pass | spin | memory (`mib`) | fetch (`url`) | count | throw (an uncaught exception).
import { configGet, log } from 'vitals:check/host@0.2.0';

let runs = 0;
const kept = [];

const CONFIG = [
  { name: 'mode', required: false, default: 'pass', help: 'What to do: pass, count, spin, memory, fetch or throw' },
  { name: 'mib', required: false, default: '8', help: 'MiB to allocate in mode memory' },
  { name: 'url', required: false, default: undefined, help: 'URL to fetch in mode fetch' },
];

export function describe() {
  return { name: 'misbehave-js', version: '0.1.0', summary: 'Misbehaves on request', defaults: {}, config: CONFIG };
}

// As the template's glue does: an exception is passed on as its message and stack (the engine
// accepts only a string for the error, and would trap on an Error object).
export async function check() {
  try {
    return await checkMode();
  } catch (e) {
    throw typeof e === 'string' ? e : `${e}\n${e?.stack ?? ''}`.trim();
  }
}

async function checkMode() {
  runs += 1;
  const mode = configGet('mode') ?? 'pass';
  switch (mode) {
    case 'pass':
      return result('pass', 'ok from javascript');
    case 'count':
      return result('pass', `run ${runs} of this instance`);
    case 'spin':
      for (;;) {}
    case 'memory': {
      const mib = Number(configGet('mib') ?? '8');
      for (let i = 0; i < mib; i += 1) {
        const chunk = new Uint8Array(1 << 20);
        chunk.fill(i & 0xff);
        kept.push(chunk);
      }
      const held = kept.length;
      kept.length = 0;
      return result('pass', `held ${held} MiB`);
    }
    case 'fetch': {
      try {
        const res = await fetch(configGet('url'));
        return result('pass', `HTTP ${res.status}`);
      } catch (e) {
        log('info', `fetch failed: ${e.message}`);
        return result('fail', `fetch failed: ${e.message}`);
      }
    }
    case 'throw':
      return result('pass', thresholdOf(configGet('mode')));
    default:
      throw `unknown mode ${mode}`;
  }
}

function result(status, output) {
  return { status, output, observed: { value: runs, unit: 'runs' }, details: [['mode', configGet('mode') ?? 'pass']] };
}

// An author's bug, one frame down, for the stack.
function thresholdOf(text) {
  return undefinedThreshold[text];
}
