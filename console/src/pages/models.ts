/**
 * Models: base models and the workspace's fine-tuned models; a fine-tuned one can be renamed (name
 * and description), archived or unarchived, its adapter downloaded as a tar, or deleted.
 */
import { actionButton, errorArea, pageHeader, section, table } from '../components.ts';
import { announce, badge, field, fill, h, type Child } from '../dom.ts';
import { date, dateTime } from '../format.ts';
import type { PageContext } from '../router.ts';
import { anyObject, archivedReply, deletedReply, modelList, type ModelCard } from '../schemas.ts';

function kind(m: ModelCard): string {
  if (m.type === 'base') return 'base';
  return m.capabilities.classification ? 'classifier' : 'chat';
}

function renameForm(ctx: PageContext, m: ModelCard, done: () => void, onError: (e: unknown) => void): HTMLElement {
  const name = h('input', { value: m.name ?? '', maxlength: 200 });
  const description = h('input', { value: m.description ?? '', maxlength: 1000 });
  const form = h('form', { class: 'inline-form', 'aria-label': `Rename ${m.id}` },
    field('Name', name), field('Description', description),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'), h('button', { type: 'button', class: 'btn btn-ghost', onclick: done }, 'Close')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void ctx.api.json(anyObject, 'PATCH', `/v1/fine_tuning/models/${encodeURIComponent(m.id)}`, { body: { name: name.value.trim(), description: description.value.trim() } })
      .then(() => (announce('Model updated'), done()), onError);
  });
  setTimeout(() => name.focus());
  return form;
}

function modelActions(ctx: PageContext, m: ModelCard, refresh: () => void, edit: (m: ModelCard) => void, onError: (e: unknown) => void): HTMLElement {
  if (m.type === 'base') return h('span', { class: 'muted' }, '—');
  const path = encodeURIComponent(m.id);
  const label = (verb: string) => `${verb} ${m.name && m.name !== m.id ? m.name : m.id}`;
  return h('div', { class: 'actions compact' },
    h('button', { type: 'button', class: 'btn btn-ghost', 'aria-label': `Rename ${m.id}`, onclick: () => edit(m) }, 'Rename'),
    actionButton(m.archived ? 'Unarchive' : 'Archive', async () => {
      await ctx.api.json(archivedReply, m.archived ? 'DELETE' : 'POST', `/v1/fine_tuning/models/${path}/archive`);
      announce(m.archived ? 'Model unarchived' : 'Model archived');
      refresh();
    }, { onError, ariaLabel: label(m.archived ? 'Unarchive' : 'Archive') }),
    actionButton('Adapter', () => ctx.api.download(`/v1/fine_tuning/models/${path}/adapter`, `${m.id.replace(/[^\w.-]+/g, '_')}.tar`), { onError, ariaLabel: label('Download the adapter of') }),
    actionButton('Delete', async () => {
      if (!confirm(`Delete ${m.id} and its adapter? This cannot be undone.`)) return;
      await ctx.api.json(deletedReply, 'DELETE', `/v1/models/${path}`);
      announce('Model deleted');
      refresh();
    }, { tone: 'danger', onError, ariaLabel: label('Delete') }));
}

function modelRows(ctx: PageContext, models: ModelCard[], refresh: () => void, edit: (m: ModelCard) => void, onError: (e: unknown) => void): Child[][] {
  return models.map((m) => [
    h('div', {}, h('div', { class: 'mono strong nowrap' }, m.id), m.name && m.name !== m.id ? h('div', {}, m.name) : null, m.description ? h('div', { class: 'muted small' }, m.description) : null),
    h('span', {}, kind(m), m.archived ? [' ', badge('archived', 'idle')] : null),
    h('span', { class: 'nowrap' }, m.root ?? '—'),
    m.job ? h('a', { href: `#/jobs/${encodeURIComponent(m.job)}`, class: 'mono nowrap' }, m.job.slice(0, 13)) : '—',
    m.type === 'base' ? '—' : h('span', { class: 'nowrap', title: dateTime(m.created) }, date(m.created)),
    modelActions(ctx, m, refresh, edit, onError),
  ]);
}

/** The Models page. */
export async function modelsPage(ctx: PageContext): Promise<void> {
  const errors = errorArea();
  const editor = h('div', {});
  const list = h('div', {});
  const refresh = async () => {
    const { data } = await ctx.api.json(modelList, 'GET', '/v1/models');
    if (ctx.left()) return;
    const edit = (m: ModelCard) => fill(editor, section(`Rename ${m.id}`, renameForm(ctx, m, () => (fill(editor), void refresh().catch(errors.show)), errors.show)));
    fill(list, table('Models', ['Model', 'Kind', 'Base', 'Job', 'Created', 'Actions'], modelRows(ctx, data, () => void refresh().catch(errors.show), edit, errors.show), { hideCaption: true }));
  };
  fill(ctx.root, pageHeader('Models', 'Base models and the models your jobs trained.'), errors.el, editor, section('All models', list));
  await refresh();
}
