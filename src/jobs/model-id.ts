/**
 * Fine-tuned model ids in Mistral's form (reference §2.6): `ft:<base>:<workspace8>:<yyyymmdd>:<job8>`.
 * With a suffix the SDK's doc comment shows it right after the base (`ft:open-mistral-7b:my-great-model:…`),
 * so Atelier writes `ft:<base>:<suffix>:<workspace8>:<yyyymmdd>:<job8>`: the same tail, the suffix
 * in the place the SDK documents, and the job's 8 hex still make the id unique.
 */
import { createHash } from 'node:crypto';

/** Suffixes become part of an id: colons or slashes would break parsing and URLs. */
export const suffixPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** The 8-hex workspace tag: the id's own first 8 hex digits, else a hash of it (stable per workspace). */
function workspaceTag(workspaceId: string): string {
  const hex = workspaceId.toLowerCase().replace(/-/g, '');
  if (/^[0-9a-f]{8}/.test(hex)) return hex.slice(0, 8);
  return createHash('sha256').update(workspaceId).digest('hex').slice(0, 8);
}

/** Builds the id of the model a job produced. `createdAt` is Unix seconds (the job's creation, UTC). */
export function fineTunedModelId(p: { base: string; suffix: string | null; workspaceId: string; jobId: string; createdAt: number }): string {
  const d = new Date(p.createdAt * 1000);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  const job8 = p.jobId.replace(/-/g, '').slice(0, 8);
  const parts = ['ft', p.base, ...(p.suffix ? [p.suffix] : []), workspaceTag(p.workspaceId), ymd, job8];
  return parts.join(':');
}
