/**
 * `atelier models list|get|update|archive|delete`: base and fine-tuned models of a running server
 * (/v1/models, /v1/fine_tuning/models/{id}).
 */
import { seg } from '../http-client.ts';
import { print, runGroup, table, UsageError, when, type RemoteContext, type Subcommand } from '../remote-command.ts';

type Model = { id: string; type?: string; created: number; owned_by: string; name?: string | null; description?: string | null; archived?: boolean; job?: string; root?: string };

function describe(m: Model): string {
  const extra = [m.name ? `name ${m.name}` : '', m.description ? `description ${JSON.stringify(m.description)}` : '', m.archived ? 'archived' : ''].filter(Boolean);
  return `${m.id}  ${m.type ?? ''}  ${m.owned_by}  ${when(m.created)}${m.job ? `  job ${m.job}` : ''}${extra.length ? `\n${extra.join(', ')}` : ''}`;
}

async function list(ctx: RemoteContext): Promise<number> {
  const page = await ctx.client.json<{ data: Model[] }>('GET', '/v1/models');
  print(ctx, page, () => table(['ID', 'TYPE', 'OWNED BY', 'CREATED'], page.data.map((m) => [m.id, m.type ?? '-', m.owned_by, when(m.created)])));
  return 0;
}

async function get(ctx: RemoteContext): Promise<number> {
  const m = await ctx.client.json<Model>('GET', `/v1/models/${seg(ctx.args[0] ?? '')}`);
  print(ctx, m, () => describe(m));
  return 0;
}

async function update(ctx: RemoteContext): Promise<number> {
  const { name, description } = ctx.values as { name?: string; description?: string };
  if (name === undefined && description === undefined) throw new UsageError('update needs --name and/or --description');
  const m = await ctx.client.json<Model>('PATCH', `/v1/fine_tuning/models/${seg(ctx.args[0] ?? '')}`, { json: { name, description } });
  print(ctx, m, () => describe(m));
  return 0;
}

async function archive(ctx: RemoteContext): Promise<number> {
  const undo = Boolean(ctx.values.undo);
  const r = await ctx.client.json<{ id: string; archived: boolean }>(undo ? 'DELETE' : 'POST', `/v1/fine_tuning/models/${seg(ctx.args[0] ?? '')}/archive`);
  print(ctx, r, () => `${r.archived ? 'archived' : 'unarchived'} ${r.id}`);
  return 0;
}

async function remove(ctx: RemoteContext): Promise<number> {
  const r = await ctx.client.json<{ id: string; deleted: boolean }>('DELETE', `/v1/models/${seg(ctx.args[0] ?? '')}`);
  print(ctx, r, () => `deleted ${r.id}`);
  return 0;
}

const subs: Record<string, Subcommand> = {
  list: { synopsis: 'list', summary: 'base models and the workspace\'s fine-tuned models', run: list },
  get: { synopsis: 'get MODEL_ID', summary: 'a model card', positionals: 1, run: get },
  update: { synopsis: 'update MODEL_ID [--name N] [--description D]', summary: "rename or describe a fine-tuned model", options: { name: { type: 'string' }, description: { type: 'string' } }, positionals: 1, run: update },
  archive: { synopsis: 'archive MODEL_ID [--undo]', summary: 'archive a fine-tuned model (--undo unarchives it)', options: { undo: { type: 'boolean' } }, positionals: 1, run: archive },
  delete: { synopsis: 'delete MODEL_ID', summary: 'delete a fine-tuned model and its adapter', positionals: 1, run: remove },
};

export function run(args: string[]): Promise<number> {
  return runGroup('models', subs, args);
}
