/**
 * A one-line progress bar for long CLI work. On a terminal it redraws in place; elsewhere (CI, a
 * pipe) it prints a plain line at most every `plainEveryMs`, so logs stay readable.
 */
export type ProgressBar = {
  update(done: number, total: number, fields?: Record<string, string>): void;
  finish(message?: string): void;
};

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Renders `[#####.....] 50% label k=v ...` for a bar `width` characters wide. */
function renderBar(done: number, total: number, width: number, fields: Record<string, string>): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(ratio * width);
  const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
  const extra = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
  return `${bar} ${String(Math.round(ratio * 100)).padStart(3)}%  ${done}/${total}  ${extra}`.trimEnd();
}

/** Creates a bar writing to `stream` (stderr by default). */
export function createProgressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  plainEveryMs = 5000,
): ProgressBar {
  let lastPlain = 0;
  let lastLine = '';
  return {
    update(done, total, fields = {}) {
      lastLine = `${label} ${renderBar(done, total, 30, fields)}`;
      if (stream.isTTY) {
        stream.write(`\r\x1b[2K${lastLine}`);
      } else if (Date.now() - lastPlain >= plainEveryMs || done >= total) {
        lastPlain = Date.now();
        stream.write(`${lastLine}\n`);
      }
    },
    finish(message) {
      if (stream.isTTY && lastLine) stream.write('\n');
      if (message) stream.write(`${message}\n`);
    },
  };
}
