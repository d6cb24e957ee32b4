/** Classifiers: scores of a text under each target of a fine-tuned classifier model (POST /v1/classifications). */
import { errorArea, pageHeader, section } from '../components.ts';
import { announce, field, fill, h } from '../dom.ts';
import type { PageContext } from '../router.ts';
import { classification, modelList } from '../schemas.ts';

function scoresView(results: Record<string, { scores: Record<string, number> }>): HTMLElement {
  return h('div', { class: 'stack' }, Object.entries(results).map(([target, { scores }]) => {
    const sorted = Object.entries(scores).sort((a, b) => b[1] - a[1]);
    return h('div', { class: 'target' }, h('h3', {}, target),
      h('ul', { class: 'scores', 'aria-label': `Scores for ${target}` }, sorted.map(([label, p], i) => h('li', { class: i === 0 ? 'top' : '' },
        h('span', { class: 'score-label' }, label),
        h('span', { class: 'score-bar', 'aria-hidden': 'true' }, h('span', { style: `width: ${(p * 100).toFixed(1)}%` })),
        h('span', { class: 'score-value' }, `${(p * 100).toFixed(1)}%`)))));
  }));
}

/** The Classifiers page. */
export async function classifiersPage(ctx: PageContext): Promise<void> {
  const { data } = await ctx.api.json(modelList, 'GET', '/v1/models');
  const classifiers = data.filter((m) => m.capabilities.classification);
  const errors = errorArea();
  const result = h('div', { 'aria-live': 'polite' });
  const model = h('select', { required: true }, classifiers.map((m) => h('option', { value: m.id }, m.name && m.name !== m.id ? `${m.name} — ${m.id}` : m.id)));
  const text = h('textarea', { rows: 4, required: true, placeholder: 'A text to classify' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', disabled: !classifiers.length }, 'Classify');
  const form = h('form', { class: 'stack', 'aria-label': 'Classify a text' }, field('Classifier model', model), field('Text', text), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.clear();
    submit.disabled = true;
    void ctx.api.json(classification, 'POST', '/v1/classifications', { body: { model: model.value, input: text.value } })
      .then((r) => (fill(result, section('Scores', scoresView(r.results[0] ?? {}))), announce('Classification ready')), errors.show)
      .finally(() => (submit.disabled = false));
  });
  const none = classifiers.length ? null : h('p', { class: 'callout' }, 'No classifier models yet: create a job with job type Classifier on the Jobs page.');
  fill(ctx.root, pageHeader('Classifiers', 'Score a text with a fine-tuned classifier.'), errors.el, none, section('Input', form), result);
}
