/** Building blocks the pages share: page headers, stat tiles, tables, definition lists and buttons. */
import { h, type Child } from './dom.ts';

/** The page's one h1 with an optional lead and actions on the right. */
export function pageHeader(title: string, lead?: Child, actions: Child[] = []): HTMLElement {
  return h('div', { class: 'page-header' },
    h('div', {}, h('h1', {}, title), lead ? h('p', { class: 'muted lead' }, lead) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/** A labelled number tile. */
export function stat(label: string, value: Child, note?: string): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), note ? h('div', { class: 'stat-note' }, note) : null);
}

/** A table with a caption (read by screen readers; visually hidden when `hideCaption`) and column headers. */
export function table(caption: string, headers: string[], rows: Child[][], opts: { hideCaption?: boolean; empty?: string } = {}): HTMLElement {
  if (!rows.length && opts.empty) return h('p', { class: 'empty' }, opts.empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: opts.hideCaption ? 'visually-hidden' : '' }, caption),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c)))))));
}

/** A definition list of label/value pairs. */
export function facts(pairs: [string, Child][]): HTMLElement {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

/** A section with a heading (h2) for landmarks and the outline. */
export function section(title: string, ...children: Child[]): HTMLElement {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** A button that disables itself while its async action runs and reports failures through `onError`. */
export function actionButton(label: string, action: () => Promise<void>, opts: { tone?: 'primary' | 'danger' | 'ghost'; onError: (err: unknown) => void; ariaLabel?: string }): HTMLButtonElement {
  const button = h('button', { type: 'button', class: `btn btn-${opts.tone ?? 'ghost'}`, 'aria-label': opts.ariaLabel }, label);
  button.addEventListener('click', () => {
    button.disabled = true;
    action().catch(opts.onError).finally(() => (button.disabled = false));
  });
  return button;
}

/** An area where a page shows its latest error (role alert). */
export function errorArea(): { el: HTMLElement; show(err: unknown): void; clear(): void } {
  const el = h('div', { class: 'error-area' });
  return {
    el,
    show: (err) => el.replaceChildren(h('div', { class: 'alert', role: 'alert' }, err instanceof Error ? err.message : String(err))),
    clear: () => el.replaceChildren(),
  };
}
