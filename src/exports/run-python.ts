/**
 * Runs `python -m trainer.export` and reads its one-line JSON answer: `{"files": [...]}` on
 * success, `{"error": "..."}` with exit code 2 when the input is at fault (ExportInputError, a 4xx
 * for the caller), anything else is a server fault.
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { repoRoot, resolvePython } from '../models/index.ts';

/** The export or import was refused because of what was asked or uploaded (the message says why). */
export class ExportInputError extends Error {}

const answer = z.union([z.object({ files: z.array(z.string()) }), z.object({ error: z.string() })]);

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** Runs the exporter with `args`; resolves to the files it wrote. */
export async function runExporter(python: string, args: string[]): Promise<string[]> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(resolvePython(python), ['-m', 'trainer.export', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', resolve);
  });
  const parsed = answer.safeParse(safeJson(lastLine(Buffer.concat(out).toString())));
  if (parsed.success && 'error' in parsed.data && code === 2) throw new ExportInputError(parsed.data.error);
  if (code !== 0 || !parsed.success || !('files' in parsed.data)) {
    throw new Error(`python -m trainer.export exited ${code}: ${Buffer.concat(err).toString().slice(-2000)}`);
  }
  return parsed.data.files;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return null;
  }
}
