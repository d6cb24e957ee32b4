/** Boots the console: the login when no key is saved, else the navigation and the page of the current hash. */
import './styles.css';
import { Api } from './api.ts';
import { fill, h } from './dom.ts';
import { classifiersPage } from './pages/classifiers.ts';
import { fileDetailPage, filesPage } from './pages/files.ts';
import { jobDetailPage } from './pages/job-detail.ts';
import { newJobPage } from './pages/job-new.ts';
import { jobsPage } from './pages/jobs.ts';
import { loginPage } from './pages/login.ts';
import { modelsPage } from './pages/models.ts';
import { playgroundPage } from './pages/playground.ts';
import { renderRoute, type Route } from './router.ts';
import { forgetKey, savedKey } from './session.ts';

const routes: Route[] = [
  { pattern: /^\/files$/, title: 'Files', nav: 'files', render: filesPage },
  { pattern: /^\/files\/([^/]+)$/, title: 'File', nav: 'files', render: fileDetailPage },
  { pattern: /^\/jobs$/, title: 'Jobs', nav: 'jobs', render: jobsPage },
  { pattern: /^\/jobs\/new$/, title: 'New job', nav: 'jobs', render: newJobPage },
  { pattern: /^\/jobs\/([^/]+)$/, title: 'Job', nav: 'jobs', render: jobDetailPage },
  { pattern: /^\/models$/, title: 'Models', nav: 'models', render: modelsPage },
  { pattern: /^\/playground$/, title: 'Playground', nav: 'playground', render: playgroundPage },
  { pattern: /^\/classifiers$/, title: 'Classifiers', nav: 'classifiers', render: classifiersPage },
];

const navItems = [['files', 'Files'], ['jobs', 'Jobs'], ['models', 'Models'], ['playground', 'Playground'], ['classifiers', 'Classifiers']];

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el;
}

function showNavigation(signedIn: boolean): void {
  const nav = element('nav');
  nav.hidden = !signedIn;
  fill(nav, h('ul', {}, navItems.map(([id, label]) => h('li', {}, h('a', { href: `#/${id}`, 'data-nav': id }, label)))));
  const signOut = h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => (forgetKey(), start()) }, 'Sign out');
  fill(element('session'), signedIn ? signOut : null);
}

function start(): void {
  const key = savedKey();
  const main = element('main');
  showNavigation(Boolean(key));
  window.onhashchange = null;
  if (!key) return void loginPage(main, start);
  const api = new Api(key);
  window.onhashchange = () => void renderRoute(routes, api, main);
  void renderRoute(routes, api, main);
}

start();
