/**
 * The layers of src/ (README.md, Layout), checked by `npm run check:boundaries`. Each folder imports
 * only folders below it:
 *
 *   entries (server.ts, worker.ts, dev.ts)
 *   app/                the composition root: the only folder that imports every feature
 *   features            intake/ processing/ billing/ entitlements/ email-events/ privacy/ admin/ reconcile/ console/
 *   paddle/             Paddle's formats, pure
 *   db/                 drivers, schema, migrations
 *   platform/           config, logger, errors, clock, time, auth, metrics, tracing
 */
const FEATURES = '^src/(intake|processing|billing|entitlements|email-events|privacy|admin|reconcile|console)/'

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'platform-is-the-bottom',
      comment: 'platform/ is what everything else builds on: it imports nothing else from src/.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/', pathNot: '^src/platform/' },
    },
    {
      name: 'db-imports-only-platform',
      comment: 'db/ knows tables and drivers, not features, Paddle or the app.',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/', pathNot: '^src/(db|platform)/' },
    },
    {
      name: 'paddle-imports-only-platform',
      comment: 'paddle/ is pure: signatures, envelopes, projections. It reads no database and no feature.',
      severity: 'error',
      from: { path: '^src/paddle/' },
      to: { path: '^src/', pathNot: '^src/(paddle|platform)/' },
    },
    {
      name: 'features-never-import-app',
      comment: 'app/ wires the features together; a feature that imports it imports every other feature.',
      severity: 'error',
      from: { path: FEATURES },
      to: { path: '^src/(app/|(server|worker|dev)\\.ts$)' },
    },
    {
      name: 'intake-never-imports-processing',
      comment: 'The request path stores the event and changes no state: the worker is out of its reach.',
      severity: 'error',
      from: { path: '^src/intake/' },
      to: { path: '^src/processing/' },
    },
    {
      name: 'only-entries-import-app',
      comment: 'Below the entries, nothing in src/ reaches up into the composition root.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app/|(server|worker|dev)\\.ts$)' },
      to: { path: '^src/app/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle means two modules are one; untangle or merge them.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
}
