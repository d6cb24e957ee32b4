// The `atelier` command's sources compiled to plain JavaScript once per change of src/, so a run
// skips tsx. Why: under tsx every module is resolved and loaded through hooks on a second thread;
// that costs ~0.65 CPU s per process (0.95 against 0.3 for `atelier data validate` on a one-line
// file), and again in every worker thread of `data validate` (docs/datasets.md). A checkout still
// needs no build step: the first run after an edit builds (~0.5 s, esbuild, which tsx ships) into
// .cache/cli/<fingerprint of src/>/, later runs reuse it. Anything unexpected falls back to tsx;
// ATELIER_CLI_COMPILED=0 forces tsx (e.g. for stack traces into the .ts sources).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const cacheDir = path.join(root, '.cache', 'cli');
/** Entry points: the command, and the worker thread `data validate` starts (parallel-check.ts). */
const ENTRIES = { main: 'src/cli/main.ts', 'check-worker': 'src/data/check-worker.ts' };

/** Hash of every source file's path, size and mtime, and of the Node and esbuild versions. */
function fingerprint(esbuildVersion) {
  const h = createHash('sha1').update(`${process.version} ${esbuildVersion}\n`);
  const files = readdirSync(src, { recursive: true }).filter((f) => /\.(ts|json)$/.test(f) && !f.endsWith('.test.ts')).sort();
  for (const f of files) {
    const s = statSync(path.join(src, f));
    h.update(`${f} ${s.size} ${s.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Keeps each module's own `import.meta.url` (a bundle would give every module the bundle's), so
 * paths computed from it (repo root, migrations, console assets) stay what they are under tsx.
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

async function build(esbuild, dir) {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    logLevel: 'silent',
    plugins: [keepModuleUrls],
    define: { ATELIER_COMPILED_WORKER: JSON.stringify(pathToFileURL(path.join(dir, 'check-worker.js')).href) },
  });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process finished the same build first
  }
  if (!existsSync(path.join(dir, 'main.js'))) throw new Error('compiled CLI missing');
  // Earlier builds are stale: keep only this one.
  for (const old of readdirSync(cacheDir)) {
    if (old !== path.basename(dir) && !old.includes('.tmp-')) rmSync(path.join(cacheDir, old), { recursive: true, force: true });
  }
}

/** URL of the compiled src/cli/main.ts, building it when src/ changed; null to run through tsx. */
export async function compiledCli() {
  if (process.env.ATELIER_CLI_COMPILED === '0') return null;
  try {
    const esbuild = await import('esbuild');
    const dir = path.join(cacheDir, fingerprint(esbuild.version));
    if (!existsSync(path.join(dir, 'main.js'))) {
      mkdirSync(cacheDir, { recursive: true });
      await build(esbuild, dir);
    }
    return pathToFileURL(path.join(dir, 'main.js')).href;
  } catch {
    return null;
  }
}
