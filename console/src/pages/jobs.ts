/**
 * Jobs: the workspace's fine-tuning jobs with the API's filters (status, model, suffix, creation
 * dates, created by this key, W&B project) and pages; refreshed with backoff while any job is active.
 */
import { errorArea, pageHeader, section, table } from '../components.ts';
import { field, fill, h, type Child } from '../dom.ts';
import { count, dateTime } from '../format.ts';
import { endedStatuses, statusBadge } from '../job-status.ts';
import { poll } from '../poll.ts';
import type { PageContext } from '../router.ts';
import { jobList, jobStatuses, type Job } from '../schemas.ts';

const pageSize = 20;

type Filters = { status: string; model: string; suffix: string; created_after: string; created_before: string; created_by_me: boolean; wandb_project: string };

function filterForm(onApply: (f: Filters) => void): HTMLFormElement {
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'Any'), jobStatuses.map((s) => h('option', { value: s }, s)));
  const model = h('input', { name: 'model', placeholder: 'tiny-mistral' });
  const suffix = h('input', { name: 'suffix' });
  const after = h('input', { name: 'created_after', type: 'date' });
  const before = h('input', { name: 'created_before', type: 'date' });
  const mine = h('input', { name: 'created_by_me', type: 'checkbox', id: 'jobs-mine' });
  const wandb = h('input', { name: 'wandb_project' });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter jobs' },
    field('Status', status), field('Base model', model), field('Suffix', suffix), field('Created after', after), field('Created before', before),
    field('W&B project', wandb), h('div', { class: 'field checkbox' }, mine, h('label', { for: 'jobs-mine' }, 'Created with my key')),
    h('div', { class: 'field' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onApply({ status: status.value, model: model.value.trim(), suffix: suffix.value.trim(), created_after: after.value, created_before: before.value, created_by_me: mine.checked, wandb_project: wandb.value.trim() });
  });
  return form;
}

const isoDay = (day: string, end: boolean) => (day ? `${day}T${end ? '23:59:59' : '00:00:00'}Z` : undefined);

function jobRows(jobs: Job[]): Child[][] {
  return jobs.map((j) => [
    h('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, class: 'mono strong' }, j.id.slice(0, 13)),
    j.model, statusBadge(j), j.job_type,
    j.fine_tuned_model ? h('span', { class: 'mono small' }, j.fine_tuned_model) : '—',
    count(j.trained_tokens), dateTime(j.created_at),
  ]);
}

/** The Jobs page. */
export async function jobsPage(ctx: PageContext): Promise<void> {
  const errors = errorArea();
  const results = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading jobs…'));
  let filters: Partial<Filters> = {};
  let page = 0;
  let shown = '';
  const pager = h('div', { class: 'pager' });
  const tick = async () => {
    const q = { ...filters, created_after: isoDay(filters.created_after ?? '', false), created_before: isoDay(filters.created_before ?? '', true), created_by_me: filters.created_by_me || undefined, page, page_size: pageSize };
    const list = await ctx.api.json(jobList, 'GET', '/v1/fine_tuning/jobs', { query: q });
    if (ctx.left()) return 'done' as const;
    const sig = JSON.stringify(list);
    if (sig !== shown) {
      fill(results, table('Fine-tuning jobs', ['Job', 'Base model', 'Status', 'Type', 'Fine-tuned model', 'Trained tokens', 'Created'], jobRows(list.data), { hideCaption: true, empty: 'No jobs match.' }));
      renderPager(list.total);
    }
    shown = sig;
    return list.data.some((j) => !endedStatuses.includes(j.status)) ? ('changed' as const) : ('same' as const);
  };
  const poller = poll(tick, { minMs: 2000, maxMs: 30_000, onError: errors.show });
  ctx.onLeave(() => poller.stop());
  const go = (p: number) => ((page = p), poller.now());
  const renderPager = (total: number) => fill(pager,
    h('span', { class: 'muted' }, `${count(total)} ${total === 1 ? 'job' : 'jobs'} · page ${page + 1} of ${Math.max(1, Math.ceil(total / pageSize))}`),
    h('button', { type: 'button', class: 'btn btn-ghost', disabled: page === 0, onclick: () => go(page - 1) }, 'Previous'),
    h('button', { type: 'button', class: 'btn btn-ghost', disabled: (page + 1) * pageSize >= total, onclick: () => go(page + 1) }, 'Next'));
  fill(ctx.root,
    pageHeader('Jobs', 'Fine-tuning jobs of this workspace.', [h('a', { class: 'btn btn-primary', href: '#/jobs/new' }, 'New job')]),
    errors.el,
    section('Filters', filterForm((f) => ((filters = f), go(0)))),
    section('Jobs', results, pager));
}
