/**
 * The web console's build output (console/dist, written by `npm run console:build`): its index page
 * and hashed assets, read per request so a rebuild shows without a restart. Asset names are checked
 * against a strict pattern before touching the disk, so a request can never leave the folder.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where Vite writes the console (see console/vite.config.ts). */
export const consoleDistDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console/dist');

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

// Vite names assets `<name>-<hash>.<ext>`: letters, digits, dot, dash and underscore only.
const assetName = /^[\w-]+(\.[\w-]+)*$/;

export type ConsoleAsset = { body: Buffer; contentType: string };

/** Shown at `/` when the console has not been built. */
export const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atelier</title></head>
<body><main><h1>Atelier</h1>
<p>The web console is not built. Run <code>npm run setup</code> (or <code>npm run console:build</code>) in the Atelier checkout, then reload this page.</p>
<p>The API is served under <code>/v1</code>; its OpenAPI document is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
</main></body></html>
`;

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw err;
  }
}

/** The console's index.html, or null when the build output is missing. */
export async function readConsoleIndex(dir = consoleDistDir): Promise<Buffer | null> {
  return readOrNull(path.join(dir, 'index.html'));
}

/** One file of console/dist/assets, or null when the name is not an asset name or no such file exists. */
export async function readConsoleAsset(name: string, dir = consoleDistDir): Promise<ConsoleAsset | null> {
  const ext = path.extname(name);
  if (!assetName.test(name) || !contentTypes[ext]) return null;
  const body = await readOrNull(path.join(dir, 'assets', name));
  return body ? { body, contentType: contentTypes[ext] } : null;
}
