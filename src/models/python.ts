/** Which Python runs the trainer: settings.python, else the checkout's .venv, else python3 on PATH. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding `trainer/` and `models/`). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Resolves the Python interpreter path. */
export function resolvePython(configured: string): string {
  if (configured) return configured;
  const venv = path.join(repoRoot, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** Absolute paths become their last component: client-visible text never names server folders. */
export function withoutPaths(text: string): string {
  return text.replace(/(?<![\w.])(?:\/[\w.@+~-]+){2,}\/?/g, (p) => p.split('/').filter(Boolean).pop() ?? '');
}
