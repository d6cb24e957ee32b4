/**
 * New job: base model, job type (classifier targets for classifiers), training files with weights,
 * validation files, suffix, hyperparameters and auto_start. With auto_start off (the default here)
 * the job validates and its page shows the estimate before anything trains.
 */
import { errorArea, pageHeader, table } from '../components.ts';
import { announce, field, fill, h } from '../dom.ts';
import { bytes, count } from '../format.ts';
import { navigate, type PageContext } from '../router.ts';
import { fileList, job, modelList, type FileObject, type ModelCard } from '../schemas.ts';
import { validationBadge } from './files.ts';

type NumberSpec = { name: string; label: string; hint: string; step: string; integer: boolean };
const hyperparameterSpecs: NumberSpec[] = [
  { name: 'training_steps', label: 'Training steps', hint: 'Wins over epochs.', step: '1', integer: true },
  { name: 'epochs', label: 'Epochs', hint: 'Default 1 when neither is set.', step: 'any', integer: false },
  { name: 'learning_rate', label: 'Learning rate', hint: 'Default 0.0001.', step: 'any', integer: false },
  { name: 'warmup_fraction', label: 'Warm-up fraction', hint: 'Default 0.05.', step: 'any', integer: false },
  { name: 'weight_decay', label: 'Weight decay', hint: 'Default 0.1.', step: 'any', integer: false },
  { name: 'seq_len', label: 'Sequence length', hint: 'Tokens per sequence; default min(2048, context).', step: '1', integer: true },
  { name: 'batch_size', label: 'Batch size', hint: 'Sequences per step; default 1.', step: '1', integer: true },
  { name: 'lora_rank', label: 'LoRA rank', hint: 'Default 16.', step: '1', integer: true },
];

type FileChoice = { file: FileObject; use: HTMLInputElement; weight: HTMLInputElement; validate: HTMLInputElement };

function fileChoices(files: FileObject[]): FileChoice[] {
  return files.map((file) => ({
    file,
    use: h('input', { type: 'checkbox', 'aria-label': `Train on ${file.filename}` }),
    weight: h('input', { type: 'number', min: '0.01', step: 'any', value: '1', class: 'narrow', 'aria-label': `Weight of ${file.filename}` }),
    validate: h('input', { type: 'checkbox', 'aria-label': `Validate on ${file.filename}` }),
  }));
}

function filesTable(choices: FileChoice[]): HTMLElement {
  const rows = choices.map((c) => [c.use, h('span', { class: 'strong' }, c.file.filename), validationBadge(c.file), count(c.file.num_lines), bytes(c.file.bytes), c.weight, c.validate]);
  return table('Training and validation files', ['Train', 'File', 'Validation', 'Lines', 'Size', 'Weight', 'Validate on'], rows, { empty: 'No fine-tune files yet: upload one on the Files page first.' });
}

function numberInputs(): Map<string, HTMLInputElement> {
  return new Map(hyperparameterSpecs.map((s) => [s.name, h('input', { type: 'number', name: s.name, step: s.step, min: '0', inputmode: s.integer ? 'numeric' : 'decimal' })]));
}

function hyperparameters(inputs: Map<string, HTMLInputElement>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of hyperparameterSpecs) {
    const raw = inputs.get(spec.name)?.value.trim() ?? '';
    if (raw !== '') out[spec.name] = spec.integer ? Math.round(Number(raw)) : Number(raw);
  }
  return out;
}

/** `target: label, label` lines → classifier_targets. */
function parseTargets(text: string): { name: string; labels: string[] }[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const [name, labels = ''] = line.split(':');
    const list = labels.split(',').map((s) => s.trim()).filter(Boolean);
    if (!name.trim() || !list.length) throw new Error(`Classifier target "${line}": write it as name: label, label`);
    return { name: name.trim(), labels: list };
  });
}

type Part = { el: HTMLElement; read(): Record<string, unknown> };

function modelPart(models: ModelCard[]): Part {
  const model = h('select', { name: 'model', required: true }, models.filter((m) => m.type === 'base').map((m) => h('option', { value: m.id }, m.id)));
  const jobType = h('select', { name: 'job_type' }, h('option', { value: 'completion' }, 'Completion (chat)'), h('option', { value: 'classifier' }, 'Classifier'));
  const targets = h('textarea', { name: 'classifier_targets', rows: 3, placeholder: 'sentiment: positive, negative' });
  const targetsField = field('Classifier targets', targets, 'One target a line: name: label, label');
  targetsField.hidden = true;
  jobType.addEventListener('change', () => (targetsField.hidden = jobType.value !== 'classifier'));
  const suffix = h('input', { name: 'suffix', maxlength: 64, pattern: '[A-Za-z0-9._-]*' });
  return {
    el: h('fieldset', { class: 'card' }, h('legend', {}, 'Model'), h('div', { class: 'grid-3' }, field('Base model', model), field('Job type', jobType), field('Suffix', suffix, 'Optional; goes into the model id.')), targetsField),
    read: () => ({
      model: model.value, job_type: jobType.value, suffix: suffix.value.trim() || undefined,
      classifier_targets: jobType.value === 'classifier' ? parseTargets(targets.value) : undefined,
    }),
  };
}

function dataPart(files: FileObject[]): Part {
  const choices = fileChoices(files);
  return {
    el: h('fieldset', { class: 'card' }, h('legend', {}, 'Data'), filesTable(choices)),
    read: () => {
      const training = choices.filter((c) => c.use.checked).map((c) => ({ file_id: c.file.id, weight: Number(c.weight.value) || 1 }));
      if (!training.length) throw new Error('Pick at least one training file.');
      return { training_files: training, validation_files: choices.filter((c) => c.validate.checked).map((c) => c.file.id) };
    },
  };
}

function hyperparameterPart(): Part {
  const numbers = numberInputs();
  return {
    el: h('fieldset', { class: 'card' }, h('legend', {}, 'Hyperparameters'), h('p', { class: 'muted' }, 'Leave a field empty for its default.'),
      h('div', { class: 'grid-4' }, hyperparameterSpecs.map((s) => field(s.label, numbers.get(s.name) as HTMLInputElement, s.hint)))),
    read: () => ({ hyperparameters: hyperparameters(numbers) }),
  };
}

function autoStartPart(): Part {
  const autoStart = h('input', { type: 'checkbox', name: 'auto_start', id: 'auto-start' });
  return {
    el: h('div', { class: 'card' }, h('div', { class: 'field checkbox' }, autoStart, h('label', { for: 'auto-start' }, 'Start training as soon as the data is validated')),
      h('p', { class: 'hint' }, 'Unchecked: the job validates its data and shows the estimate (tokens, duration, cost); you start it from its page.')),
    read: () => ({ auto_start: autoStart.checked }),
  };
}

/** The New job page. */
export async function newJobPage(ctx: PageContext): Promise<void> {
  const [models, files] = await Promise.all([
    ctx.api.json(modelList, 'GET', '/v1/models'),
    ctx.api.json(fileList, 'GET', '/v1/files', { query: { purpose: 'fine-tune', page_size: 500 } }),
  ]);
  const errors = errorArea();
  const parts = [modelPart(models.data), dataPart(files.data), hyperparameterPart(), autoStartPart()];
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create job');
  const form = h('form', { class: 'stack', 'aria-label': 'New fine-tuning job' }, parts.map((p) => p.el), errors.el,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/jobs', class: 'btn btn-ghost' }, 'Cancel')));
  const create = async () => {
    const body = Object.assign({}, ...parts.map((p) => p.read())) as Record<string, unknown>;
    const created = await ctx.api.json(job, 'POST', '/v1/fine_tuning/jobs', { body });
    announce('Job created');
    navigate(`/jobs/${encodeURIComponent(created.id)}`);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.clear();
    submit.disabled = true;
    void create().catch(errors.show).finally(() => (submit.disabled = false));
  });
  fill(ctx.root, pageHeader('New fine-tuning job', h('span', {}, h('a', { href: '#/jobs' }, 'Jobs'), ' / new')), form);
}
