/**
 * The parts of src/ and the imports allowed between them (docs/architecture.md, "Parts and
 * imports"). The table of allowed imports is scripts/architecture-parts.json; test/architecture.test.ts
 * fails on a cycle or an arrow not listed there; scripts/architecture-graph.ts draws the picture.
 */
/** part -> the parts it may import besides its own files; higher parts first. */
const allowed = require('./scripts/architecture-parts.json');

const partRules = Object.entries(allowed).map(([part, may]) => ({
  name: `${part}-imports`,
  comment: `src/${part} may import only ${may.length ? may.map((p) => `src/${p}`).join(', ') : 'nothing else in src'}`,
  severity: 'error',
  from: { path: `^src/${part}/` },
  to: { path: '^src/[^/]+/', pathNot: [`^src/(${[part, ...may].join('|')})/`] },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'no import cycles', severity: 'error', from: {}, to: { circular: true } },
    ...partRules,
    {
      name: 'through-index',
      comment: "another part is imported through its index.ts (its public surface)",
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'src-not-tests',
      comment: 'product code does not import test helpers, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
