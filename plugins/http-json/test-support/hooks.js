// A module resolve hook for node tests, registered by plugin.test.js with module.register: the
// vitals host import, which exists only inside the component, resolves to the fake host in
// test-support/fake-host.js. Keep the version here the one plugin.js imports.
const FAKES = {
  'vitals:check/host@0.2.0': new URL('./fake-host.js', import.meta.url).href,
};

export async function resolve(specifier, context, nextResolve) {
  const fake = FAKES[specifier];
  if (fake !== undefined) return { url: fake, shortCircuit: true };
  return nextResolve(specifier, context);
}
