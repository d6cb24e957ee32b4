/** Where tests find mistral-common's bundled tokenizer files and Python (the project's .venv). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const venvPython = join(repoRoot, '.venv', 'bin', 'python');

let dataDir: string | undefined;

/** mistral_common/data in the project's virtual environment. */
export function referenceDataDir(): string {
  dataDir ??= execFileSync(
    venvPython,
    ['-c', 'import mistral_common,os;print(os.path.join(os.path.dirname(mistral_common.__file__),"data"))'],
    { encoding: 'utf8' },
  ).trim();
  return dataDir;
}
