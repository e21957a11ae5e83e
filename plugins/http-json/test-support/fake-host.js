// A stand-in for the vitals host in node tests. plugin.js imports `vitals:check/host@0.2.0`;
// test-support/hooks.js resolves that import to this module, so a test sets the config plugin.js
// sees and reads what it logged.

let config = new Map();
let failures = new Map();

/** The log lines written since the last `configure`, as [level, message]. */
export const logged = [];

// The imports of `vitals:check/host`, as componentize-js binds them.

export function log(level, message) {
  fail('log');
  logged.push([level, message]);
}

export function configGet(key) {
  fail('configGet');
  return config.get(key);
}

export function configKeys() {
  fail('configKeys');
  return [...config.keys()].sort();
}

function fail(name) {
  const failure = failures.get(name);
  if (failure !== undefined) {
    failures.delete(name);
    // Made here, so its stack runs through the plugin's code that called the import.
    throw new failure.type(failure.message);
  }
}

/**
 * Set the config as the host does from the operator's `values` (an object of strings): reject a
 * key `description` (what describe() returned) does not declare and a required key left unset,
 * and fill in each declared default. `{ defaults: false }` leaves unset keys unset instead.
 */
export function configure(description, values = {}, { defaults = true } = {}) {
  const declared = new Map();
  for (const key of description.config) {
    if (declared.has(key.name)) throw new Error(`describe() declares config key \`${key.name}\` twice`);
    if (key.required && key.default !== undefined) {
      throw new Error(`describe() declares config key \`${key.name}\` as required and with a default`);
    }
    declared.set(key.name, key);
  }
  for (const name of Object.keys(values)) {
    // A declared name ending in `.` is a family: every key that starts with it.
    const inFamily = [...declared.keys()].some((d) => d.endsWith('.') && name.startsWith(d));
    if (!declared.has(name) && !inFamily) throw new Error(`config key \`${name}\` is not declared by describe()`);
  }
  config = new Map();
  for (const key of description.config) {
    const value = values[key.name] ?? (defaults ? key.default : undefined);
    if (value !== undefined) config.set(key.name, value);
    else if (key.required) throw new Error(`config key \`${key.name}\` is required but not set`);
  }
  // Keys of a family are set as given.
  for (const [name, value] of Object.entries(values)) {
    if (!declared.has(name)) config.set(name, value);
  }
  failures = new Map();
  logged.length = 0;
}

/**
 * Make the next call of import `name` ('log', 'configGet' or 'configKeys') throw an error of
 * `type` with `message`: an unexpected failure, such as a bug in the code around the call.
 */
export function failNext(name, message, type = Error) {
  failures.set(name, { message, type });
}
