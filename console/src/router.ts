/**
 * Hash routes (`#/jobs/ftjob-1`): the server serves one page at `/`, so the location after `#` picks
 * what to render. Each render gets a fresh PageContext; leaving the page runs its cleanups (pollers,
 * streams) so nothing keeps running behind another page.
 */
import type { Api } from './api.ts';
import { alertBox, fill, h } from './dom.ts';

export type PageContext = {
  api: Api;
  /** The route pattern's captured groups, decoded. */
  params: string[];
  root: HTMLElement;
  /** Runs when the user leaves the page. */
  onLeave(fn: () => void): void;
  /** True once the user has left (async work should stop touching the page). */
  left(): boolean;
};

export type Route = { pattern: RegExp; title: string; nav: string; render(ctx: PageContext): Promise<void> | void };

let cleanups: (() => void)[] = [];
let generation = 0;

function leave(): void {
  generation += 1;
  cleanups.forEach((fn) => fn());
  cleanups = [];
}

/** The current hash path, e.g. "/jobs/abc" ("/files" when empty). */
export function currentPath(): string {
  const path = location.hash.replace(/^#/, '');
  return path.startsWith('/') ? path : '/files';
}

/** Goes to `path` (a hash path such as "/jobs"). */
export function navigate(path: string): void {
  location.hash = `#${path}`;
}

function markNav(nav: string): void {
  document.querySelectorAll<HTMLAnchorElement>('#nav a').forEach((a) => {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

/** Renders the route matching the current hash into `root`, and moves focus to it for screen readers. */
export async function renderRoute(routes: Route[], api: Api, root: HTMLElement): Promise<void> {
  leave();
  const mine = generation;
  const path = currentPath();
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match?.m) return void fill(root, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '.'));
  const ctx: PageContext = { api, root, params: match.m.slice(1).map(decodeURIComponent), onLeave: (fn) => cleanups.push(fn), left: () => generation !== mine };
  document.title = `${match.r.title} · Atelier`;
  markNav(match.r.nav);
  fill(root);
  root.focus({ preventScroll: true });
  try {
    await match.r.render(ctx);
  } catch (err) {
    if (!ctx.left()) root.append(alertBox(err instanceof Error ? err.message : String(err)));
  }
}
