/**
 * The dependency rule of src/ (README: "How the code is laid out"), checked by `npm run lint:deps` in `npm test`.
 * protocol/ imports nothing of ours; client/ and action/ never import the broker; no two folders import each
 * other, directly or around a loop.
 */
export default {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment:
        'Folders depend one way: a loop between folders means one of them owns something of the other.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'protocol-is-the-base',
      comment:
        'protocol/ (wire and admin schemas, names, globs, escaping) is shared by every side and imports none.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'clients-never-import-the-broker',
      comment: 'The action and secrets-fetch ship as small bundles: no broker code in them.',
      severity: 'error',
      from: { path: '^src/(client|action)/' },
      to: { path: '^src/(broker|cli|dev)/' },
    },
    {
      name: 'the-broker-never-imports-clients',
      severity: 'error',
      from: { path: '^src/broker/' },
      to: { path: '^src/(client|action|cli|dev)/' },
    },
    {
      name: 'nothing-imports-the-entry-points',
      comment: 'cli/ and action/ are entry points over the layers: nothing below them imports them.',
      severity: 'error',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-entry-points-import-the-server',
      comment: 'broker.ts wires every part together; the parts never reach back for it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|dev)/' },
      to: { path: '^src/broker/broker\\.ts$' },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
