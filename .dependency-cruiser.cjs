/**
 * The layering of agent/ (docs/architecture.md), checked in CI by `npm run depcheck`:
 *   core  <-  config  <-  engines tracking sources vision emotion evaluation events
 *         <-  models mqtt homeassistant web health (features; none imports another)  <-  pipeline (the wiring)  <-  cli
 *   fleet (the operator's fleet view and rollout rules, pure) may import models; only cli imports it.
 * An arrow points at what a folder may import; nothing imports upwards, nothing forms a cycle.
 */
const LOWER = '(engines|tracking|sources|vision|emotion|evaluation|events)';
const FEATURES = '(mqtt|homeassistant|web|health|models)';
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no import cycles between modules', from: {}, to: { circular: true } },
    { name: 'core-is-the-base', severity: 'error', comment: 'agent/core imports nothing else of the agent', from: { path: '^agent/core/' }, to: { path: '^agent/', pathNot: '^agent/core/' } },
    { name: 'config-on-core-only', severity: 'error', from: { path: '^agent/config/' }, to: { path: '^agent/', pathNot: '^agent/(config|core)/' } },
    { name: 'lower-layers-stay-low', severity: 'error', comment: 'engines, tracking, sources, vision, emotion, evaluation and events do not import features or wiring', from: { path: `^agent/${LOWER}/` }, to: { path: '^agent/(mqtt|homeassistant|web|health|models|pipeline|cli)/' } },
    { name: 'fleet-is-the-operators', severity: 'error', comment: 'agent/fleet is used by the CLI only, and uses no feature but models', from: { path: '^agent/fleet/' }, to: { path: '^agent/(mqtt|homeassistant|web|health|pipeline|cli)/' } },
    { name: 'only-cli-imports-fleet', severity: 'error', comment: 'the agent itself never imports the operator-side fleet logic', from: { path: '^agent/', pathNot: '^agent/(cli|fleet)/' }, to: { path: '^agent/fleet/' } },
    { name: 'features-are-independent', severity: 'error', comment: 'mqtt, homeassistant, web, health and models do not import each other: the wiring connects them', from: { path: `^agent/${FEATURES}/` }, to: { path: `^agent/${FEATURES}/`, pathNot: '^agent/$1/' } },
    { name: 'nothing-imports-the-wiring', severity: 'error', from: { path: '^agent/', pathNot: '^agent/(pipeline|cli)/' }, to: { path: '^agent/(pipeline|cli)/' } },
    { name: 'wiring-does-not-import-cli', severity: 'error', from: { path: '^agent/pipeline/' }, to: { path: '^agent/cli/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
    exclude: { path: '(^|/)(dist|node_modules|test|training)/' },
  },
};
