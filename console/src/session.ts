/** The API key is the login: kept in this browser's localStorage until the user signs out. */
const storageKey = 'atelier.apiKey';

export function savedKey(): string | null {
  return localStorage.getItem(storageKey);
}

export function saveKey(key: string): void {
  localStorage.setItem(storageKey, key);
}

export function forgetKey(): void {
  localStorage.removeItem(storageKey);
}
