// Test guest (QuickJS): the trivial check, for load and per-run costs. Counts its runs so warm
// instances show.
let runs = 0;

export function describe() {
  return { name: 'noop-qjs', version: '0.1.0', summary: 'Passes', defaults: {}, config: [] };
}

export function check() {
  runs += 1;
  return { status: 'pass', output: `ok from quickjs, run ${runs} of this instance`, details: [] };
}
