/**
 * The rules for a classifier training sample (Mistral's classifier factory format):
 * `{"text": "…", "labels": {"<target>": "<label>" | ["<label>", …]}}` or the same with `messages`
 * instead of `text`. With the job's `classifier_targets`, labels are checked against them.
 */
import { z } from 'zod';
import { excerpt } from './errors.ts';
import { checkContent, checkRole, isObject, Problems, where, type ImageLimits, type Obj } from './message-rules.ts';

export const classifierTargetSchema = z.object({
  name: z.string().min(1),
  labels: z.array(z.string()).min(1),
  weight: z.number().optional(),
  loss_function: z.enum(['single_class', 'multi_class']).nullish(),
});
export type ClassifierTarget = z.infer<typeof classifierTargetSchema>;

/** Label occurrences per target and label, for the statistics. */
export type LabelCounts = Map<string, Map<string, number>>;

/** Checks a classifier sample; adds problems to `p` and the sample's labels to `labelCounts`. */
export function checkClassifierSample(sample: Obj, targets: ClassifierTarget[] | undefined, limits: ImageLimits, p: Problems): Map<string, string[]> {
  checkInput(sample, limits, p);
  if (!('labels' in sample) || sample.labels === null || sample.labels === undefined) {
    p.add('labels_missing', 'the sample has no "labels"; add {"<target>": "<label>"} for each classifier target');
    return new Map();
  }
  const labels = readLabels(sample.labels, p);
  if (targets) checkAgainstTargets(labels, targets, p);
  return labels;
}

function checkInput(sample: Obj, limits: ImageLimits, p: Problems): void {
  const hasText = 'text' in sample && sample.text !== undefined;
  const hasMessages = 'messages' in sample && sample.messages !== undefined;
  if (hasText && hasMessages) {
    p.add('classifier_input_both', 'the sample has both "text" and "messages"; a classifier sample uses exactly one of them');
  } else if (hasText) {
    if (typeof sample.text !== 'string' || !sample.text.trim()) {
      p.add('classifier_text_invalid', `"text" must be a non-empty string; found ${excerpt(sample.text)}`);
    }
  } else if (hasMessages) {
    checkMessages(sample.messages, limits, p);
  } else {
    p.add('classifier_input_missing', 'the sample has neither "text" nor "messages"; add the input to classify');
  }
}

function checkMessages(messages: unknown, limits: ImageLimits, p: Problems): void {
  if (!Array.isArray(messages)) {
    p.add('messages_not_list', `"messages" must be a list of messages; found ${excerpt(messages)}`);
    return;
  }
  if (messages.length === 0) {
    p.add('messages_empty', '"messages" is empty; give the conversation to classify');
    return;
  }
  messages.forEach((msg, i) => {
    if (!isObject(msg)) {
      p.add('message_not_object', `${where(i)} must be an object {"role": …, "content": …}; found ${excerpt(msg)}`);
      return;
    }
    const role = checkRole(msg, i, ['system', 'user', 'assistant'], p);
    if (!role) return;
    const info = checkContent(msg, i, role, limits, p);
    if (!info.nonEmpty) {
      p.add(info.present ? 'content_empty' : 'content_missing', `${where(i, role)} ${info.present ? 'has empty content' : 'has no "content"'}; give it the message text`);
    }
  });
}

function readLabels(raw: unknown, p: Problems): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    p.add('labels_invalid', `"labels" must be a non-empty object {"<target>": "<label>" or ["<label>", …]}; found ${excerpt(raw)}`);
    return out;
  }
  for (const [target, value] of Object.entries(raw)) {
    const list = typeof value === 'string' ? [value] : value;
    // An empty list is a multi_class sample with no positive label; single_class targets reject it below.
    if (!Array.isArray(list) || !list.every((l) => typeof l === 'string' && l.length > 0)) {
      p.add('labels_invalid', `labels.${target} must be a label string or a list of label strings; found ${excerpt(value)}`);
      continue;
    }
    out.set(target, list as string[]);
  }
  return out;
}

function checkAgainstTargets(labels: Map<string, string[]>, targets: ClassifierTarget[], p: Problems): void {
  const byName = new Map(targets.map((t) => [t.name, t]));
  for (const [name, list] of labels) {
    const target = byName.get(name);
    if (!target) {
      p.add('label_target_unknown', `labels.${name}: the job declares no target "${name}" (targets: ${[...byName.keys()].join(', ')})`);
      continue;
    }
    for (const label of list) {
      if (!target.labels.includes(label)) {
        p.add('label_unknown', `labels.${name}: "${excerpt(label).slice(1, -1)}" is not a label of target "${name}" (labels: ${target.labels.join(', ')})`);
      }
    }
    if ((target.loss_function ?? 'single_class') === 'single_class' && list.length === 0) {
      p.add('labels_invalid', `labels.${name} is an empty list but target "${name}" is single_class; give exactly one label (or declare the target multi_class)`);
    }
    if ((target.loss_function ?? 'single_class') === 'single_class' && list.length > 1) {
      p.add('label_multiple_single_class', `labels.${name} has ${list.length} labels but target "${name}" is single_class; give exactly one label (or declare the target multi_class)`);
    }
  }
  for (const name of byName.keys()) {
    if (!labels.has(name)) p.add('label_target_missing', `labels has no "${name}"; every sample needs a label for each declared target`);
  }
}
