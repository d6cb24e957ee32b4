/**
 * A fake Hugging Face hub cache for tests: tiny-mistral converted to Hugging Face layout by the
 * trainer's own exporter (config.json, sharded model-*.safetensors + index, tokenizer), laid out as
 * huggingface_hub caches a download: `models--org--name/blobs/<n>`, `snapshots/<rev>/<file>` as
 * relative symlinks to the blobs, and `refs/main` holding the revision.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBuiltInModel } from '../../src/models/index.ts';
import { repoRoot, venvPython } from './test-paths.ts';

export const fakeRevision = 'c0ffee00'.repeat(5);

/** Writes `repoId` (tiny-mistral in HF layout, shards of at most `shardBytes`) into the cache at `cacheDir`; returns its snapshot folder. */
export async function writeFakeHubModel(cacheDir: string, repoId: string, shardBytes = 4_000_000): Promise<string> {
  const tiny = await ensureBuiltInModel({ dataDir: cacheDir, python: '' });
  const staging = await mkdtemp(path.join(os.tmpdir(), 'atelier-hf-export-'));
  try {
    await promisify(execFile)(venvPython, ['-m', 'trainer.export', '--format', 'merged-hf', '--model-dir', tiny, '--out', staging, '--shard-bytes', String(shardBytes)], {
      cwd: repoRoot, env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    const repo = path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
    const snapshot = path.join(repo, 'snapshots', fakeRevision);
    await mkdir(path.join(repo, 'blobs'), { recursive: true });
    await mkdir(snapshot, { recursive: true });
    await mkdir(path.join(repo, 'refs'), { recursive: true });
    for (const [i, name] of (await readdir(staging)).sort().entries()) {
      const blob = path.join(repo, 'blobs', `blob${i}`);
      await rename(path.join(staging, name), blob);
      await symlink(path.relative(snapshot, blob), path.join(snapshot, name));
    }
    await writeFile(path.join(repo, 'refs', 'main'), fakeRevision);
    return snapshot;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
