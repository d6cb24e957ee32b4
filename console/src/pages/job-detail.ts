/**
 * A job: live status, progress and ETA, the estimate (shown before starting when auto_start is off),
 * loss and learning-rate curves from GET …/metrics, events, checkpoints and hyperparameters, with
 * Start and Cancel. Polls with backoff: fast while something changes, slower when idle, and stops
 * once the job has ended and its last state is drawn.
 */
import { ApiFailure } from '../api.ts';
import { lineChart, type LineChart } from '../chart.ts';
import { actionButton, errorArea, facts, pageHeader, section, stat, table } from '../components.ts';
import { announce, fill, h } from '../dom.ts';
import { count, dateTime, duration, metric, timeOfDay } from '../format.ts';
import { endedStatuses, statusBadge, waitsForStart } from '../job-status.ts';
import { poll } from '../poll.ts';
import type { PageContext } from '../router.ts';
import { eventPage, job as jobSchema, metricSeries, type Job, type JobEvent, type MetricPoint } from '../schemas.ts';

type Snapshot = { job: Job; metrics: MetricPoint[] | null; events: JobEvent[] };

async function load(ctx: PageContext, id: string): Promise<Snapshot> {
  const path = `/v1/fine_tuning/jobs/${encodeURIComponent(id)}`;
  const [job, metrics, events] = await Promise.all([
    ctx.api.json(jobSchema, 'GET', path),
    // null: this server has no metrics endpoint (an older Atelier); the page says so instead of failing.
    ctx.api.json(metricSeries, 'GET', `${path}/metrics`).then((s) => s.data, (err: unknown) => {
      if (err instanceof ApiFailure && err.code === 'route_not_found') return null;
      throw err;
    }),
    ctx.api.json(eventPage, 'GET', `${path}/events`, { query: { limit: 200 } }),
  ]);
  // Every step writes a metrics event; the curves show those, the table the rest.
  return { job, metrics, events: events.data.filter((e) => e.type !== 'metrics') };
}

function totalSteps(job: Job): number | null {
  const steps = job.metadata?.training_steps ?? job.hyperparameters.training_steps;
  return typeof steps === 'number' ? steps : null;
}

/** Seconds left: from the measured speed when there is one, else the estimate minus the time run. */
function eta(s: Snapshot, runningSince: number | null): number | null {
  const last = s.metrics?.at(-1);
  const total = totalSteps(s.job);
  const perStep = s.job.metadata?.train_tokens_per_step;
  if (last && total && last.tokens_per_second && perStep) return ((total - last.step) * perStep) / last.tokens_per_second;
  const expected = s.job.metadata?.expected_duration_seconds;
  return expected && runningSince ? Math.max(0, expected - (Date.now() / 1000 - runningSince)) : null;
}

function runningSince(events: JobEvent[]): number | null {
  const started = events.filter((e) => e.data?.status === 'RUNNING').at(-1);
  return started?.created_at ?? null;
}

function progressCard(s: Snapshot): HTMLElement {
  const total = totalSteps(s.job);
  const last = s.metrics?.filter((m) => m.train_loss !== null && m.train_loss !== undefined).at(-1);
  const step = s.job.status === 'SUCCESS' ? (total ?? last?.step ?? 0) : (last?.step ?? 0);
  const fraction = total ? Math.min(1, step / total) : 0;
  const running = s.job.status === 'RUNNING';
  const left = running ? eta(s, runningSince(s.events)) : null;
  return section('Progress',
    h('div', { class: 'progress-line' },
      h('progress', { max: 1, value: fraction, 'aria-label': 'Training progress', 'aria-valuetext': `step ${step} of ${total ?? 'unknown'}` }),
      h('span', { class: 'strong' }, `${Math.round(fraction * 100)}%`)),
    h('div', { class: 'stats' },
      stat('Step', total ? `${count(step)} / ${count(total)}` : count(step)),
      stat('Time left', running ? duration(left) : s.job.status === 'SUCCESS' ? 'done' : '—'),
      stat('Train loss', metric(last?.train_loss)),
      stat('Tokens / s', last?.tokens_per_second ? count(Math.round(last.tokens_per_second)) : '—'),
      stat('Trained tokens', count(s.job.trained_tokens))));
}

function estimateCard(job: Job): HTMLElement | null {
  const m = job.metadata;
  if (!m || m.train_tokens === null || m.train_tokens === undefined) return null;
  const cost = m.cost !== null && m.cost !== undefined ? `${metric(m.cost)} ${m.cost_currency ?? ''}` : '—';
  return section('Estimate',
    waitsForStart(job) ? h('p', { class: 'callout' }, 'Review the estimate, then start the job. Nothing trains until you do.') : null,
    h('div', { class: 'stats', 'data-testid': 'estimate' },
      stat('Data tokens', count(m.data_tokens)), stat('Train tokens', count(m.train_tokens), `${count(m.train_tokens_per_step)} per step`),
      stat('Steps', count(m.training_steps)), stat('Epochs', m.epochs ? m.epochs.toFixed(2) : '—'),
      stat('Expected duration', duration(m.expected_duration_seconds)), stat('Cost', cost),
      stat('Estimated start', m.estimated_start_time ? timeOfDay(m.estimated_start_time) : '—')));
}

function failure(job: Job): HTMLElement | null {
  if (job.status !== 'FAILED' && job.status !== 'FAILED_VALIDATION') return null;
  const err = job.events?.find((e) => e.data && 'error' in e.data)?.data?.error;
  const message = typeof err === 'string' ? err : err && typeof err === 'object' && 'message' in err ? String(err.message) : 'The job failed; see its events.';
  return h('div', { class: 'alert', role: 'alert' }, message);
}

function eventsSection(events: JobEvent[]): HTMLElement {
  const rows = events.map((e) => [dateTime(e.created_at), e.level, e.message]);
  return section('Events', table('Job events, newest first', ['Time', 'Kind', 'Message'], rows, { hideCaption: true, empty: 'No events yet.' }));
}

function checkpointsSection(job: Job): HTMLElement {
  const rows = (job.checkpoints ?? []).map((c) => [count(c.step_number), metric(c.metrics.train_loss), metric(c.metrics.valid_loss), metric(c.metrics.valid_mean_token_accuracy), dateTime(c.created_at)]);
  return section('Checkpoints', table('Checkpoints, newest first', ['Step', 'Mean train loss', 'Valid loss', 'Valid accuracy', 'Saved'], rows, { hideCaption: true, empty: 'No checkpoints yet.' }),
    rows.length ? h('p', { class: 'hint' }, 'Mean train loss: over the steps since the previous checkpoint.') : null);
}

function detailsSection(job: Job): HTMLElement {
  const hyper = Object.entries(job.hyperparameters).filter(([, v]) => v !== null && v !== undefined).map(([k, v]): [string, string] => [k, typeof v === 'number' ? metric(v) : String(v)]);
  return section('Details', facts([
    ['Base model', job.model], ['Type', job.job_type],
    ['Training files', h('span', {}, job.training_files.map((id, i) => [i ? ', ' : '', h('a', { href: `#/files/${encodeURIComponent(id)}`, class: 'mono' }, id)]))],
    ['Fine-tuned model', job.fine_tuned_model ? h('a', { href: '#/models', class: 'mono' }, job.fine_tuned_model) : '—'],
    ['Created', dateTime(job.created_at)], ['Auto start', job.auto_start ? 'yes' : 'no'], ...hyper]));
}

type Charts = { loss: LineChart; lr: LineChart; acc: LineChart; el: HTMLElement };

const lastOf = (ys: (number | null)[]) => ys.filter((v) => v !== null).at(-1);

function makeCharts(): Charts {
  const loss = lineChart('Loss', [{ label: 'train loss', color: '#4338ca' }, { label: 'valid loss', color: '#d97706', dash: [6, 4] }], (x, [train, valid]) => {
    const parts = [`${train.filter((v) => v !== null).length} steps drawn`, `latest train loss ${metric(lastOf(train))}`];
    return [...parts, ...(lastOf(valid) !== undefined ? [`latest valid loss ${metric(lastOf(valid))}`] : [])].join(', ');
  }, { yLog: true });
  const lr = lineChart('Learning rate', [{ label: 'learning rate', color: '#047857' }], (x, [rates]) => `${x.length} steps, latest ${metric(lastOf(rates))}`);
  const acc = lineChart('Token accuracy', [{ label: 'train accuracy', color: '#4338ca' }, { label: 'valid accuracy', color: '#d97706', dash: [6, 4] }],
    (x, [train, valid]) => `latest train ${metric(lastOf(train))}, valid ${metric(lastOf(valid))}`);
  acc.el.hidden = true;
  return { loss, lr, acc, el: section('Curves', h('div', { class: 'charts' }, loss.el, lr.el, acc.el)) };
}

/** The points of `metrics` where `pick` has a value. */
function series(metrics: MetricPoint[], picks: ((m: MetricPoint) => number | null | undefined)[]): [number[], (number | null)[][]] {
  const rows = metrics.filter((m) => picks.some((p) => p(m) !== null && p(m) !== undefined));
  return [rows.map((m) => m.step), picks.map((p) => rows.map((m) => p(m) ?? null))];
}

function drawCharts(charts: Charts, metrics: MetricPoint[] | null): void {
  charts.el.querySelector('.chart-note')?.remove();
  if (!metrics?.length) {
    charts.el.append(h('p', { class: 'muted chart-note' }, metrics === null ? 'This server has no metrics endpoint.' : 'Curves appear with the first training step.'));
    return;
  }
  charts.loss.update(...series(metrics, [(m) => m.train_loss, (m) => m.valid_loss]));
  charts.lr.update(...series(metrics, [(m) => m.learning_rate]));
  const [accX, accYs] = series(metrics, [(m) => m.train_accuracy, (m) => m.valid_mean_token_accuracy]);
  charts.acc.el.hidden = accX.length === 0;
  if (accX.length) charts.acc.update(accX, accYs);
}

function actions(ctx: PageContext, job: Job, refresh: () => void, onError: (e: unknown) => void): HTMLElement[] {
  const path = `/v1/fine_tuning/jobs/${encodeURIComponent(job.id)}`;
  const start = actionButton('Start training', async () => {
    await ctx.api.json(jobSchema, 'POST', `${path}/start`);
    announce('Job started');
    refresh();
  }, { tone: 'primary', onError });
  const cancel = actionButton('Cancel job', async () => {
    if (!confirm('Cancel this job? A running trainer saves a checkpoint and stops.')) return;
    await ctx.api.json(jobSchema, 'POST', `${path}/cancel`);
    announce('Job cancellation requested');
    refresh();
  }, { tone: 'danger', onError });
  return [waitsForStart(job) ? start : null, endedStatuses.includes(job.status) || job.status === 'CANCELLATION_REQUESTED' ? null : cancel].filter((b): b is HTMLButtonElement => b !== null);
}

/** The job page. */
export async function jobDetailPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  const errors = errorArea();
  const head = h('div', {});
  const top = h('div', { class: 'stack' });
  const bottom = h('div', { class: 'stack' });
  const charts = makeCharts();
  ctx.onLeave(() => [charts.loss, charts.lr, charts.acc].forEach((c) => c.destroy()));
  let seen = '';
  let status = '';
  const tick = async () => {
    const s = await load(ctx, id);
    if (ctx.left()) return 'done' as const;
    const sig = JSON.stringify([s.job.status, s.job.modified_at, s.job.trained_tokens, s.metrics?.length, s.events.length, s.job.checkpoints?.length]);
    const changed = sig !== seen;
    if (changed) render(s);
    if (status && s.job.status !== status) announce(`Job status: ${s.job.status.replace(/_/g, ' ')}`);
    [seen, status] = [sig, s.job.status];
    return endedStatuses.includes(s.job.status) ? ('done' as const) : changed ? ('changed' as const) : ('same' as const);
  };
  const poller = poll(tick, { minMs: 1000, maxMs: 10_000, onError: errors.show });
  ctx.onLeave(() => poller.stop());
  const render = (s: Snapshot) => {
    fill(head, pageHeader(`Job ${s.job.id.slice(0, 13)}`, h('span', {}, h('a', { href: '#/jobs' }, 'Jobs'), ' / ', h('span', { class: 'mono' }, s.job.id), ' ', statusBadge(s.job)), actions(ctx, s.job, () => poller.now(), errors.show)));
    fill(top, failure(s.job), estimateCard(s.job), progressCard(s));
    drawCharts(charts, s.metrics);
    fill(bottom, eventsSection(s.events), checkpointsSection(s.job), detailsSection(s.job));
  };
  fill(ctx.root, head, errors.el, top, charts.el, bottom);
}
