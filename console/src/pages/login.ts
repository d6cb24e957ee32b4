/** Sign-in: the API key is checked against the server (GET /v1/models) before it is saved. */
import { Api, ApiFailure } from '../api.ts';
import { alertBox, field, fill, h } from '../dom.ts';
import { modelList } from '../schemas.ts';
import { saveKey } from '../session.ts';

export function loginPage(root: HTMLElement, onSignedIn: () => void): void {
  document.title = 'Sign in · Atelier';
  const input = h('input', { type: 'password', name: 'api-key', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', { class: 'card login-card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to Atelier'),
    h('p', { class: 'muted' }, 'Your API key is your login. It stays in this browser until you sign out.'),
    field('API key', input, 'A key given to `atelier serve --api-key`, or one made with `atelier keys create`.'),
    error, submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(error);
    void checkKey(input.value.trim())
      .then(() => (saveKey(input.value.trim()), (location.hash = '#/files'), onSignedIn()))
      .catch((err: unknown) => fill(error, alertBox(err instanceof ApiFailure && err.status === 401 ? 'The server does not know this key.' : String(err instanceof Error ? err.message : err))))
      .finally(() => (submit.disabled = false));
  });
  fill(root, h('div', { class: 'login' }, form));
  input.focus();
}

async function checkKey(key: string): Promise<void> {
  await new Api(key).json(modelList, 'GET', '/v1/models');
}
