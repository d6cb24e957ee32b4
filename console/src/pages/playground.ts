/**
 * Playground: one message sent to two models at once (a base model and a fine-tuned one, say), both
 * answers streamed side by side. Each side keeps its own conversation. Optional tools (JSON function
 * definitions) and tool_choice; tool calls are shown as they stream. Transcripts are aria-live logs.
 */
import type { Api } from '../api.ts';
import { streamChat, type ChatMessage, type ChatOptions, type Partial } from '../chat-stream.ts';
import { errorArea, pageHeader } from '../components.ts';
import { announce, field, fill, h } from '../dom.ts';
import type { PageContext } from '../router.ts';
import { modelList, type ModelCard } from '../schemas.ts';

const exampleTools = JSON.stringify([{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }], null, 2);

type Side = { select: HTMLSelectElement; log: HTMLElement; history: ChatMessage[]; title: HTMLElement };

function messageEl(role: string, text: string): HTMLElement {
  return h('div', { class: `msg msg-${role}` }, h('div', { class: 'msg-role' }, role === 'user' ? 'You' : 'Model'), h('div', { class: 'msg-text' }, text));
}

function renderPartial(el: HTMLElement, p: Partial): void {
  const calls = p.toolCalls.map((c) => h('pre', { class: 'tool-call' }, `tool call: ${c.name}(${c.arguments})`));
  fill(el, h('div', { class: 'msg-role' }, 'Model'), h('div', { class: 'msg-text' }, p.text), calls, p.finishReason ? h('div', { class: 'msg-meta' }, `finish: ${p.finishReason}`) : null);
}

function modelSelect(models: ModelCard[], preferred: string | undefined, label: string): HTMLSelectElement {
  const select = h('select', { 'aria-label': label }, models.map((m) => h('option', { value: m.id }, m.type === 'base' ? `${m.id} (base)` : m.name && m.name !== m.id ? `${m.name} — ${m.id}` : m.id)));
  if (preferred) select.value = preferred;
  return select;
}

function side(models: ModelCard[], preferred: string | undefined, label: string): Side {
  const select = modelSelect(models, preferred, `${label} model`);
  const log = h('div', { class: 'transcript', role: 'log', 'aria-live': 'polite', 'aria-label': `${label} answers` });
  return { select, log, history: [], title: h('h2', {}, label) };
}

async function answer(api: Api, s: Side, base: Omit<ChatOptions, 'model' | 'messages'>, system: string, signal: AbortSignal): Promise<void> {
  const bubble = h('div', { class: 'msg msg-assistant', 'aria-busy': 'true' }, h('div', { class: 'msg-role' }, 'Model'), h('div', { class: 'msg-text muted' }, '…'));
  s.log.append(bubble);
  const messages: ChatMessage[] = system ? [{ role: 'system', content: system }, ...s.history] : s.history;
  try {
    const out = await streamChat(api, { ...base, model: s.select.value, messages }, (p) => renderPartial(bubble, p), signal);
    renderPartial(bubble, out);
    // A turn with tool calls needs tool results next; the playground does not run tools, so it stays out of the history.
    if (!out.toolCalls.length) s.history.push({ role: 'assistant', content: out.text });
  } catch (err) {
    fill(bubble, h('div', { class: 'msg-role' }, 'Error'), h('div', { class: 'text-bad' }, signal.aborted ? 'stopped' : err instanceof Error ? err.message : String(err)));
  } finally {
    bubble.setAttribute('aria-busy', 'false');
  }
}

function parseTools(text: string): unknown[] | null {
  if (!text.trim()) return null;
  const tools: unknown = JSON.parse(text);
  if (!Array.isArray(tools)) throw new Error('Tools must be a JSON array of {type: "function", function: {...}} objects.');
  return tools;
}

type Settings = { el: HTMLElement; read(): { options: Omit<ChatOptions, 'model' | 'messages'>; system: string } };

/** Sampling, system prompt and tools, folded away under one disclosure. */
function settingsPanel(): Settings {
  const temperature = h('input', { type: 'number', min: '0', max: '2', step: '0.1', value: '0' });
  const maxTokens = h('input', { type: 'number', min: '1', max: '4096', step: '1', value: '128' });
  const system = h('textarea', { rows: 2, placeholder: 'Optional system prompt' });
  const tools = h('textarea', { rows: 8, class: 'mono', spellcheck: 'false', placeholder: exampleTools });
  const toolChoice = h('select', {}, ['auto', 'none', 'any', 'required'].map((c) => h('option', { value: c }, c)));
  const el = h('details', { class: 'card settings' }, h('summary', {}, 'Settings and tools'),
    h('div', { class: 'grid-3' }, field('Temperature', temperature), field('Max tokens', maxTokens), field('Tool choice', toolChoice, 'Used when tools are given.')),
    field('System prompt', system), field('Tools (JSON)', tools, 'An array of function tools, as in the chat API. Empty: no tools.'));
  return {
    el,
    read: () => ({
      options: { temperature: Number(temperature.value), maxTokens: Number(maxTokens.value), tools: parseTools(tools.value), toolChoice: toolChoice.value },
      system: system.value.trim(),
    }),
  };
}

type Composer = { el: HTMLFormElement; busy(running: AbortController | null): void };

/** The message box with Send, Stop and Clear; Enter sends, Shift+Enter adds a line. */
function composer(onSend: (text: string) => void, onClear: () => void): Composer {
  const prompt = h('textarea', { rows: 3, required: true, placeholder: 'Ask both models something… (Enter sends, Shift+Enter for a new line)' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send');
  const stop = h('button', { type: 'button', class: 'btn btn-ghost', disabled: true }, 'Stop');
  const clear = h('button', { type: 'button', class: 'btn btn-ghost', onclick: onClear }, 'Clear');
  const el = h('form', { class: 'composer card', 'aria-label': 'Message both models' }, field('Message', prompt), h('div', { class: 'actions' }, send, stop, clear));
  let running: AbortController | null = null;
  stop.addEventListener('click', () => running?.abort());
  prompt.addEventListener('keydown', (e) => e.key === 'Enter' && !e.shiftKey && (e.preventDefault(), el.requestSubmit()));
  el.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text || running) return;
    prompt.value = '';
    onSend(text);
  });
  return {
    el,
    busy(controller) {
      running = controller;
      [send.disabled, stop.disabled] = [Boolean(controller), !controller];
      if (!controller) prompt.focus();
    },
  };
}

/** The Playground page. */
export async function playgroundPage(ctx: PageContext): Promise<void> {
  const { data } = await ctx.api.json(modelList, 'GET', '/v1/models');
  const chat = data.filter((m) => m.capabilities.completion_chat && !m.archived);
  const tuned = chat.filter((m) => m.type === 'fine-tuned').sort((a, b) => b.created - a.created)[0];
  const sides = [side(chat, chat.find((m) => m.type === 'base')?.id, 'Left'), side(chat, tuned?.id, 'Right')];
  const errors = errorArea();
  const settings = settingsPanel();
  let running: AbortController | null = null;
  ctx.onLeave(() => running?.abort());
  const send = (text: string) => {
    errors.clear();
    let read: ReturnType<Settings['read']>;
    try {
      read = settings.read();
    } catch (err) {
      return errors.show(err);
    }
    const controller = (running = new AbortController());
    box.busy(controller);
    const turns = sides.map((s) => {
      s.history.push({ role: 'user', content: text });
      s.log.append(messageEl('user', text));
      return answer(ctx.api, s, read.options, read.system, controller.signal);
    });
    void Promise.all(turns).finally(() => ((running = null), box.busy(null), announce('Both answers are complete')));
  };
  const box = composer(send, () => sides.forEach((s) => ((s.history = []), fill(s.log))));
  const panes = h('div', { class: 'panes' }, sides.map((s) => h('section', { class: 'card pane', 'aria-label': `${s.title.textContent} model` }, h('div', { class: 'pane-head' }, s.title, s.select), s.log)));
  fill(ctx.root, pageHeader('Playground', 'Send one message to two models and compare their answers as they stream.'), errors.el, panes, box.el, settings.el);
  if (!chat.length) errors.show(new Error('No chat model is available.'));
}
