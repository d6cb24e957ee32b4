/**
 * `atelier files upload|list|get|delete|download`: the Files API of a running server
 * (POST/GET/DELETE /v1/files, GET /v1/files/{id}/content).
 */
import { createWriteStream, openAsBlob } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { seg } from '../http-client.ts';
import { print, runGroup, table, when, type RemoteContext, type Subcommand } from '../remote-command.ts';

type FileObject = { id: string; filename: string; purpose: string; bytes: number; num_lines?: number | null; created_at: number; status?: string };

function describe(f: FileObject): string {
  return `${f.id}  ${f.filename}  ${f.purpose}  ${f.bytes} bytes${typeof f.num_lines === 'number' ? `, ${f.num_lines} lines` : ''}  ${when(f.created_at)}`;
}

async function upload(ctx: RemoteContext): Promise<number> {
  const file = ctx.args[0] ?? '';
  const form = new FormData();
  form.set('purpose', String(ctx.values.purpose ?? 'fine-tune'));
  form.set('file', await openAsBlob(file), path.basename(file));
  const f = await ctx.client.json<FileObject>('POST', '/v1/files', { body: form });
  print(ctx, f, () => describe(f));
  return 0;
}

async function list(ctx: RemoteContext): Promise<number> {
  const page = await ctx.client.json<{ data: FileObject[] }>('GET', '/v1/files', { query: { purpose: ctx.values.purpose as string | undefined, page_size: 1000 } });
  print(ctx, page, () => table(['ID', 'FILENAME', 'PURPOSE', 'BYTES', 'CREATED'], page.data.map((f) => [f.id, f.filename, f.purpose, String(f.bytes), when(f.created_at)])));
  return 0;
}

async function get(ctx: RemoteContext): Promise<number> {
  const f = await ctx.client.json<FileObject>('GET', `/v1/files/${seg(ctx.args[0] ?? '')}`);
  print(ctx, f, () => describe(f));
  return 0;
}

async function remove(ctx: RemoteContext): Promise<number> {
  const d = await ctx.client.json<{ id: string }>('DELETE', `/v1/files/${seg(ctx.args[0] ?? '')}`);
  print(ctx, d, () => `deleted ${d.id}`);
  return 0;
}

async function download(ctx: RemoteContext): Promise<number> {
  const res = await ctx.client.send('GET', `/v1/files/${seg(ctx.args[0] ?? '')}/content`);
  const out = ctx.values.output as string | undefined;
  if (!res.body) return 0;
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), out && out !== '-' ? createWriteStream(out) : process.stdout);
  if (out && out !== '-') console.error(`wrote ${out}`);
  return 0;
}

const subs: Record<string, Subcommand> = {
  upload: { synopsis: 'upload FILE [--purpose P]', summary: 'upload a file (purpose fine-tune by default; datasets are validated)', options: { purpose: { type: 'string' } }, positionals: 1, run: upload },
  list: { synopsis: 'list [--purpose P]', summary: "list the workspace's files", options: { purpose: { type: 'string' } }, run: list },
  get: { synopsis: 'get FILE_ID', summary: "a file's metadata", positionals: 1, run: get },
  delete: { synopsis: 'delete FILE_ID', summary: 'delete a file and its bytes', positionals: 1, run: remove },
  download: { synopsis: 'download FILE_ID [-o OUT]', summary: "a file's bytes to OUT (default stdout), e.g. a job's step_metrics.csv", options: { output: { type: 'string', short: 'o' } }, positionals: 1, run: download },
};

export function run(args: string[]): Promise<number> {
  return runGroup('files', subs, args);
}
