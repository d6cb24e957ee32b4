/** Display formats for bytes, counts, times and durations (the user's locale). */

const numberFormat = new Intl.NumberFormat();

/** 1234567 → "1,234,567" (null → "—"). */
export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : numberFormat.format(n);
}

/** 1536 → "1.5 KB". */
export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) [v, i] = [v / 1000, i + 1];
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Unix seconds → local date and time. */
export function dateTime(seconds: number | null | undefined): string {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Seconds → "1 h 4 min", "3 min 5 s", "12 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** A metric value with sensible precision (losses, rates, scores). */
export function metric(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (v !== 0 && Math.abs(v) < 0.001) return v.toExponential(2);
  return v.toFixed(Math.abs(v) >= 100 ? 0 : 4).replace(/\.?0+$/, '') || '0';
}

/** Unix seconds → the time when it is today, else the date and time. */
export function timeOfDay(seconds: number): string {
  const d = new Date(seconds * 1000);
  if (d.toDateString() !== new Date().toDateString()) return dateTime(seconds);
  return d.toLocaleTimeString(undefined, { timeStyle: 'short' });
}

/** Unix seconds → local date. */
export function date(seconds: number): string {
  return new Date(seconds * 1000).toLocaleDateString(undefined, { dateStyle: 'medium' });
}
