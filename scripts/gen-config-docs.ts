/**
 * Writes docs/configuration.md from the settings registry, so the reference cannot drift from the
 * code (src/settings/settings.test.ts fails when the file is stale). Run: npx tsx scripts/gen-config-docs.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigurationDoc } from '../src/settings/docs.ts';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
writeFileSync(target, renderConfigurationDoc());
console.log(`wrote ${target}`);
