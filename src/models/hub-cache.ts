/**
 * Base models registered by the `baseModels` setting (ATELIER_BASE_MODELS, `--base-model`): each
 * entry is a Hugging Face repo id, looked up offline in the hub cache, or a model folder.
 *
 * A repo id `org/name` is served under that id; its folder is the cache's
 * `<hfHubCache>/models--org--name/snapshots/<rev>/` with `<rev>` read from `refs/main`, the layout
 * `huggingface_hub` writes (https://huggingface.co/docs/huggingface_hub/guides/manage-cache).
 * A folder (absolute, or starting with `./`, `../` or `~/`) is served under its own name, or under
 * the repo id when it is itself a hub-cache snapshot. Nothing here touches the network.
 *
 * Resolution is synchronous (a few stats per entry, no cache): listing, lookups and a cache that a
 * download changes under a running server all see the same folders.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where base models come from, besides the built-in one and modelsDir (a slice of Settings). */
export type ModelSources = { baseModels: string[]; hfHubCache: string };

export type RegisteredModel = {
  /** The id jobs and /v1/models use: the repo id, or the folder's name. */
  id: string;
  dir: string;
  /** The Hugging Face repo id (hub-cache entries and snapshot folders), else null. */
  hfRepoId: string | null;
  /** The snapshot's revision (commit hash) for hub-cache entries, else null. */
  revision: string | null;
};

/** A `baseModels` entry that names nothing usable; the message says what was expected. */
export class BaseModelSourceError extends Error {}

// Hugging Face repo ids: `name` or `org/name`, letters, digits, `-`, `_`, `.` (no `--` edges or `..`).
const repoIdPattern = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;
const snapshotPattern = /(?:^|\/)models--([^/]+)\/snapshots\/([^/]+)\/?$/;

/** Whether an entry names a folder rather than a repo id (repo ids look like relative paths). */
export function isFolderEntry(entry: string): boolean {
  return path.isAbsolute(entry) || /^(?:\.{1,2}|~)(?:\/|$)/.test(entry);
}

/** The repo id a folder name of the cache stands for: `models--org--name` -> `org/name`. */
function repoIdOfCacheFolder(name: string): string {
  return name.split('--').join('/');
}

/** The hub-cache folder of a repo id: `org/name` -> `models--org--name`. */
export function cacheFolderName(repoId: string): string {
  return `models--${repoId.split('/').join('--')}`;
}

function hasModelFiles(dir: string): boolean {
  return existsSync(path.join(dir, 'config.json')) || existsSync(path.join(dir, 'params.json'));
}

/** The snapshot folder and revision of `repoId` in the hub cache; throws BaseModelSourceError saying what is missing. */
export function findInHubCache(repoId: string, cacheDir: string): { dir: string; revision: string } {
  if (repoId.includes('..') || !repoIdPattern.test(repoId)) {
    throw new BaseModelSourceError(`'${repoId}' is neither a Hugging Face repo id (org/name) nor a folder (start folders with /, ./, ../ or ~/)`);
  }
  const repoDir = path.join(cacheDir, cacheFolderName(repoId));
  const ref = path.join(repoDir, 'refs', 'main');
  const download = `download it with \`huggingface-cli download ${repoId}\` (or \`hf download\`), or set ATELIER_HF_HUB_CACHE to the cache that holds it`;
  if (!existsSync(ref)) throw new BaseModelSourceError(`${repoId} is not in the Hugging Face cache ${cacheDir} (no ${path.relative(cacheDir, ref)}); ${download}`);
  const revision = readFileSync(ref, 'utf8').trim();
  const dir = path.join(repoDir, 'snapshots', revision);
  if (!/^[\w.-]+$/.test(revision) || !existsSync(dir)) throw new BaseModelSourceError(`${repoId}: refs/main names revision '${revision}' but ${dir} does not exist; ${download}`);
  if (!hasModelFiles(dir)) throw new BaseModelSourceError(`${repoId}: snapshot ${revision} has no config.json or params.json (only part of the repo was downloaded?); ${download}`);
  return { dir, revision };
}

/** One entry as a registered model; throws BaseModelSourceError. */
export function resolveEntry(entry: string, cacheDir: string): RegisteredModel {
  if (!isFolderEntry(entry)) {
    const { dir, revision } = findInHubCache(entry, cacheDir);
    return { id: entry, dir, hfRepoId: entry, revision };
  }
  const dir = path.resolve(entry.replace(/^~(?=\/|$)/, os.homedir()));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BaseModelSourceError(`base model folder ${dir} does not exist`);
  if (!hasModelFiles(dir)) throw new BaseModelSourceError(`${dir} is not a model folder: expected config.json (Hugging Face layout) or params.json (Mistral layout)`);
  const snapshot = snapshotPattern.exec(dir);
  if (snapshot) {
    const repoId = repoIdOfCacheFolder(snapshot[1] as string);
    return { id: repoId, dir, hfRepoId: repoId, revision: snapshot[2] as string };
  }
  return { id: path.basename(dir), dir, hfRepoId: null, revision: null };
}

/**
 * Every entry resolved, or a BaseModelSourceError listing each entry that does not resolve and
 * each id named twice. The server and the worker call it when they start, so a typo stops them.
 */
export function checkBaseModels(sources: ModelSources): RegisteredModel[] {
  const problems: string[] = [];
  const out: RegisteredModel[] = [];
  for (const entry of sources.baseModels) {
    try {
      const m = resolveEntry(entry, sources.hfHubCache);
      if (out.some((o) => o.id === m.id)) problems.push(`two base models entries are served as '${m.id}'; keep one`);
      else out.push(m);
    } catch (err) {
      if (!(err instanceof BaseModelSourceError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length) throw new BaseModelSourceError(`ATELIER_BASE_MODELS / --base-model:\n  ${problems.join('\n  ')}`);
  return out;
}

/** The entries that resolve now (one removed from the cache after start-up drops out; checkBaseModels reports it). */
export function registeredBaseModels(sources: ModelSources): RegisteredModel[] {
  const out: RegisteredModel[] = [];
  for (const entry of sources.baseModels) {
    try {
      const m = resolveEntry(entry, sources.hfHubCache);
      if (!out.some((o) => o.id === m.id)) out.push(m);
    } catch (err) {
      if (!(err instanceof BaseModelSourceError)) throw err;
    }
  }
  return out;
}

/** The registered model served as `id`, or null. */
export function findRegisteredModel(id: string, sources: ModelSources): RegisteredModel | null {
  return registeredBaseModels(sources).find((m) => m.id === id) ?? null;
}
