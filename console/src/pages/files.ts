/**
 * Files: drag-and-drop (or pick) uploads with progress, the workspace's files with their validation
 * status, and a file's page with the validation report (each bad line's number, code and message)
 * and the dataset statistics. Lists refresh with backoff while a fine-tune file is still validating.
 */
import { actionButton, errorArea, facts, pageHeader, section, stat, table } from '../components.ts';
import { announce, badge, field, fill, h, type Child } from '../dom.ts';
import { bytes, count, dateTime } from '../format.ts';
import { poll } from '../poll.ts';
import type { PageContext } from '../router.ts';
import { navigate } from '../router.ts';
import { deletedReply, fileList, fileObject, type FileObject, type ValidationReport } from '../schemas.ts';

const purposes = ['fine-tune', 'batch', 'ocr', 'user_data', 'evals'];

/** A file's validation state as a badge. */
export function validationBadge(f: FileObject): HTMLElement {
  if (f.purpose !== 'fine-tune') return badge('not validated', 'idle');
  if (!f.validation) return badge('validating…', 'busy');
  if ('error' in f.validation) return badge('validation failed', 'bad');
  const n = f.validation.error_count;
  return n === 0 ? badge('valid', 'ok') : badge(`${count(n)} ${n === 1 ? 'error' : 'errors'}`, 'bad');
}

function fileRows(files: FileObject[], ctx: PageContext, onError: (e: unknown) => void, refresh: () => void): Child[][] {
  return files.map((f) => [
    h('a', { href: `#/files/${encodeURIComponent(f.id)}`, class: 'strong' }, f.filename),
    bytes(f.bytes), count(f.num_lines), f.purpose, validationBadge(f), dateTime(f.created_at),
    actionButton('Delete', async () => {
      if (!confirm(`Delete ${f.filename}? Jobs that used it keep their results.`)) return;
      await ctx.api.json(deletedReply, 'DELETE', `/v1/files/${encodeURIComponent(f.id)}`);
      announce(`${f.filename} deleted`);
      refresh();
    }, { tone: 'ghost', onError, ariaLabel: `Delete ${f.filename}` }),
  ]);
}

function uploader(ctx: PageContext, onUploaded: () => void, onError: (e: unknown) => void): HTMLElement {
  const input = h('input', { type: 'file', multiple: true, accept: '.jsonl,.json,.txt,.csv' });
  const purpose = h('select', {}, purposes.map((p) => h('option', { value: p }, p)));
  const progressList = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const send = (files: File[]) => files.forEach((file) => void uploadOne(ctx, file, purpose.value, progressList, onUploaded).catch(onError));
  input.addEventListener('change', () => (send([...(input.files ?? [])]), (input.value = '')));
  const zone = h('div', { class: 'dropzone' },
    h('p', { class: 'dropzone-title' }, 'Drop JSONL files here'),
    h('p', { class: 'muted' }, 'or choose them: each line is one sample; fine-tune files are checked line by line as soon as they land.'),
    h('div', { class: 'row' }, field('Files to upload', input), field('Purpose', purpose)));
  zone.addEventListener('dragover', (e) => (e.preventDefault(), zone.classList.add('dragging')));
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    send([...(e.dataTransfer?.files ?? [])]);
  });
  return section('Upload', zone, progressList);
}

async function uploadOne(ctx: PageContext, file: File, purpose: string, list: HTMLElement, onUploaded: () => void): Promise<void> {
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
  const state = h('span', { class: 'muted' }, 'uploading…');
  const item = h('li', {}, h('span', { class: 'strong' }, file.name), bar, state);
  list.append(item);
  try {
    await ctx.api.upload(fileObject, file, purpose, (f) => (bar.value = f));
    bar.value = 1;
    fill(state, 'uploaded');
    announce(`${file.name} uploaded`);
    onUploaded();
  } catch (err) {
    fill(state, h('span', { class: 'text-bad' }, err instanceof Error ? err.message : String(err)));
    throw err;
  }
}

/** The Files page. */
export async function filesPage(ctx: PageContext): Promise<void> {
  const errors = errorArea();
  const listArea = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading files…'));
  let shown = '';
  const tick = async () => {
    const { data } = await ctx.api.json(fileList, 'GET', '/v1/files', { query: { page_size: 200 } });
    if (ctx.left()) return 'done' as const;
    listArea.setAttribute('aria-busy', 'false');
    // Re-render only on a change, so a poll never takes the focus from a button the user is on.
    if (JSON.stringify(data) !== shown) fill(listArea, table('Files in this workspace', ['Name', 'Size', 'Lines', 'Purpose', 'Validation', 'Uploaded', ''], fileRows(data, ctx, errors.show, () => poller.now()), {
      hideCaption: true, empty: 'No files yet: upload a JSONL dataset above.',
    }));
    shown = JSON.stringify(data);
    return data.some((f) => f.purpose === 'fine-tune' && !f.validation) ? ('changed' as const) : ('same' as const);
  };
  const poller = poll(tick, { minMs: 1000, maxMs: 30_000, onError: errors.show });
  ctx.onLeave(() => poller.stop());
  fill(ctx.root,
    pageHeader('Files', 'Datasets for fine-tuning. Each upload is validated line by line.'),
    errors.el, uploader(ctx, () => poller.now(), errors.show), section('Your files', listArea));
}

function statsSection(report: ValidationReport): HTMLElement {
  const s = report.stats;
  const labels = Object.entries(s.labels).flatMap(([target, byLabel]) => Object.entries(byLabel).map(([label, n]) => [target, label, count(n)]));
  return section('Dataset statistics',
    h('div', { class: 'stats' },
      stat('Samples', count(s.samples), report.format ? `format: ${report.format}` : undefined),
      stat('Conversation turns', count(s.turns)),
      stat('Assistant turns', count(s.assistant_turns), `${count(s.assistant_turns_trained)} trained`),
      stat('Tool calls', count(s.tool_calls)),
      stat('Images', count(s.images)),
      stat('Sample bytes', bytes(s.sample_bytes), s.longest_sample ? `longest: line ${s.longest_sample.line} (${bytes(s.longest_sample.bytes)})` : undefined)),
    s.tokens === null ? h('p', { class: 'muted' }, 'Token counts depend on the base model: a job shows them in its estimate.') : null,
    labels.length ? table('Classifier labels', ['Target', 'Label', 'Samples'], labels) : null);
}

function reportSection(report: ValidationReport): HTMLElement {
  const rows = report.errors.map((e) => [h('span', { class: 'mono' }, e.line === 0 ? 'file' : count(e.line)), h('code', {}, e.code), e.message]);
  const summary = report.error_count === 0 ? h('p', { class: 'text-ok strong' }, `All ${count(report.lines)} lines are valid.`)
    : h('p', { class: 'text-bad strong' }, `${count(report.error_count)} problems in ${count(report.lines - report.valid_lines)} of ${count(report.lines)} lines.`);
  return section('Validation report',
    h('div', { class: 'stats' }, stat('Lines', count(report.lines)), stat('Valid lines', count(report.valid_lines)), stat('Problems', count(report.error_count))),
    summary,
    rows.length ? table('Problems by line', ['Line', 'Code', 'Message'], rows) : null,
    report.errors_truncated ? h('p', { class: 'muted' }, `Only the first ${count(report.errors.length)} problems are listed.`) : null);
}

function validationView(f: FileObject): HTMLElement[] {
  if (f.purpose !== 'fine-tune') return [section('Validation', h('p', { class: 'muted' }, `Files with purpose ${f.purpose} are not validated as datasets.`))];
  if (!f.validation) return [section('Validation report', h('p', { class: 'muted' }, 'Validating… this page updates when the report is ready.'))];
  if ('error' in f.validation) return [section('Validation report', h('p', { class: 'text-bad' }, `The validation could not run: ${f.validation.error}`))];
  return [reportSection(f.validation), statsSection(f.validation)];
}

function fileSummary(f: FileObject, ctx: PageContext, onError: (e: unknown) => void): HTMLElement {
  const path = `/v1/files/${encodeURIComponent(f.id)}`;
  return h('div', {},
    pageHeader(f.filename, h('span', {}, h('a', { href: '#/files' }, 'Files'), ' / ', h('span', { class: 'mono' }, f.id)), [
      actionButton('Download', () => ctx.api.download(`${path}/content`, f.filename), { onError }),
      actionButton('Delete', async () => {
        if (!confirm(`Delete ${f.filename}?`)) return;
        await ctx.api.json(deletedReply, 'DELETE', path);
        navigate('/files');
      }, { tone: 'danger', onError }),
    ]),
    h('div', { class: 'card' }, facts([['Status', validationBadge(f)], ['Size', bytes(f.bytes)], ['Lines', count(f.num_lines)], ['Purpose', f.purpose], ['Uploaded', dateTime(f.created_at)]])));
}

/** One file: its facts, validation report and statistics. */
export async function fileDetailPage(ctx: PageContext): Promise<void> {
  const errors = errorArea();
  const body = h('div', { class: 'stack' });
  const tick = async () => {
    const f = await ctx.api.json(fileObject, 'GET', `/v1/files/${encodeURIComponent(ctx.params[0])}`);
    if (ctx.left()) return 'done' as const;
    document.title = `${f.filename} · Atelier`;
    fill(body, fileSummary(f, ctx, errors.show), validationView(f));
    return f.purpose === 'fine-tune' && !f.validation ? ('same' as const) : ('done' as const);
  };
  const poller = poll(tick, { minMs: 500, maxMs: 8000, onError: errors.show });
  ctx.onLeave(() => poller.stop());
  fill(ctx.root, errors.el, body);
}
