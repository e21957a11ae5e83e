// Test guest (StarlingMonkey): config `mode` picks what it does, so one 12 MB component covers
// every obeyed/violated pair. pass | spin | memory (`mib`) | fetch (`url`) | count.
import { configGet, log } from 'vitals:check/host@0.1.0';

let runs = 0;
const kept = [];

export function describe() {
  return { name: 'misbehave-js', version: '0.1.0', summary: 'Misbehaves on request', defaults: {} };
}

export async function check() {
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
    default:
      throw `unknown mode ${mode}`;
  }
}

function result(status, output) {
  return { status, output, observed: { value: runs, unit: 'runs' }, details: [['mode', configGet('mode') ?? 'pass']] };
}
