/**
 * A tiny element builder in place of a framework: `h('button', { class: 'btn', onclick }, 'Save')`.
 * Attributes starting with `on` become listeners, `false`/`null`/`undefined` are left out, strings
 * and numbers become text nodes (never HTML, so API values cannot inject markup).
 */
type Attr = string | number | boolean | null | undefined | EventListener;
export type Attrs = Record<string, Attr>;
export type Child = Node | string | number | null | undefined | false | Child[];

function append(el: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) child.forEach((c) => append(el, c));
  else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setAttr(el: HTMLElement, name: string, value: Attr): void {
  if (value === null || value === undefined || value === false) return;
  if (typeof value === 'function') el.addEventListener(name.slice(2), value);
  else if (name === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
  else el.setAttribute(name, value === true ? '' : String(value));
}

/** Creates an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) setAttr(el, name, value);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text: string): void {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick makes screen readers repeat an identical message.
  setTimeout(() => (region.textContent = text), 50);
}

let ids = 0;
/** A page-unique id for label/aria wiring. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field: label above the control, optional hint wired with aria-describedby. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= uid('f');
  const hintEl = hint ? h('span', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** A status badge: the class follows the status so colours stay in the stylesheet. */
export function badge(text: string, tone: 'ok' | 'bad' | 'busy' | 'idle' | 'warn'): HTMLElement {
  return h('span', { class: `badge badge-${tone}` }, text);
}

/** An error or notice box; role alert so it is read at once. */
export function alertBox(message: string): HTMLElement {
  return h('div', { class: 'alert', role: 'alert' }, message);
}
