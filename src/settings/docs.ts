import { settingDocs } from './index.ts';

/** The Markdown of docs/configuration.md: every setting, its variable, default and meaning. */
export function renderConfigurationDoc(): string {
  const rows = settingDocs().map(
    (s) => `| \`${s.name}\` | \`${s.env}\` | ${s.default ? `\`${s.default}\`` : '(none)'} | ${s.doc} |`,
  );
  return [
    '# Configuration',
    '',
    'Every setting Atelier reads. Precedence: command-line flag (where one exists, e.g. `--port`),',
    'then the environment variable, then the default. Limits default to Mistral\'s values.',
    'This file is generated from `src/settings/index.ts` by `npx tsx scripts/gen-config-docs.ts`;',
    'a test fails when it is stale.',
    '',
    '| setting | environment variable | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
