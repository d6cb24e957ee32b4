/**
 * The frame of the commands that talk to a server (files, jobs, models, chat): sub-command lookup,
 * `--help` at every level, the shared flags (--url/ATELIER_URL, --api-key/ATELIER_API_KEY, --json),
 * and errors mapped to the exit codes of docs/cli.md.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AtelierClient, ApiRequestError, ServerUnreachableError } from './http-client.ts';

/** Exit codes (docs/cli.md). */
export const exitCodes = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export type RemoteContext = { client: AtelierClient; json: boolean; values: Values; args: string[] };

export type Subcommand = {
  /** One line: `upload FILE [--purpose P]`. */
  synopsis: string;
  summary: string;
  options?: Options;
  /** Positional arguments: exactly this many, or [min, max]. */
  positionals?: number | [number, number];
  run(ctx: RemoteContext): Promise<number>;
};

const shared: Options = {
  url: { type: 'string' }, 'api-key': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
};

const sharedHelp = `shared options:
  --url URL        server (default $ATELIER_URL, else http://127.0.0.1:8000)
  --api-key KEY    API key (default $ATELIER_API_KEY)
  --json           print the server's JSON instead of text
  -h, --help       this help

exit codes: 0 ok, 1 the server refused (or the job failed), 2 usage error, 3 server unreachable`;

function groupUsage(group: string, subs: Record<string, Subcommand>): string {
  const lines = Object.values(subs).map((s) => `  ${s.synopsis.padEnd(44)} ${s.summary}`);
  return `usage: atelier ${group} <command> [options]\n\n${lines.join('\n')}\n\n${sharedHelp}\n\nRun 'atelier ${group} <command> --help' for a command's options.`;
}

function subUsage(group: string, sub: Subcommand): string {
  return `usage: atelier ${[group, sub.synopsis].filter(Boolean).join(' ')}\n\n${sub.summary}\n\n${sharedHelp}`;
}

function checkCount(sub: Subcommand, args: string[]): void {
  const [min, max] = Array.isArray(sub.positionals) ? sub.positionals : [sub.positionals ?? 0, sub.positionals ?? 0];
  if (args.length < min) throw new UsageError(`missing argument (expected ${sub.synopsis})`);
  if (args.length > max) throw new UsageError(`unexpected argument '${args[max]}'`);
}

/** The client from flags, else the environment; a missing key is a usage error. */
export function clientFrom(values: Values, env: NodeJS.ProcessEnv = process.env): AtelierClient {
  const url = (values.url as string | undefined) ?? env.ATELIER_URL ?? 'http://127.0.0.1:8000';
  const apiKey = (values['api-key'] as string | undefined) ?? env.ATELIER_API_KEY;
  if (!apiKey) throw new UsageError('no API key: pass --api-key KEY or set ATELIER_API_KEY (create one with `atelier keys create --workspace NAME`)');
  return new AtelierClient({ url, apiKey });
}

function report(prefix: string, err: unknown): number {
  if (err instanceof ApiRequestError) return (console.error(`${prefix}: ${err.message}`), exitCodes.failed);
  if (err instanceof ServerUnreachableError) return (console.error(`${prefix}: ${err.message}`), exitCodes.unreachable);
  // A local file that cannot be read or written (upload, download -o).
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'path' in err) return (console.error(`${prefix}: ${err.message}`), exitCodes.failed);
  throw err;
}

/** Runs one command (`group` '' for a command without sub-commands, like chat); resolves to the exit code. */
export async function runSub(group: string, name: string, sub: Subcommand, args: string[]): Promise<number> {
  const prefix = `atelier ${[group, name].filter(Boolean).join(' ')}`;
  let ctx: RemoteContext;
  try {
    const { values, positionals } = parseArgs({ args, options: { ...shared, ...sub.options }, allowPositionals: true, strict: true });
    if (values.help) return (console.log(subUsage(group, sub)), exitCodes.ok);
    checkCount(sub, positionals);
    ctx = { client: clientFrom(values), json: Boolean(values.json), values, args: positionals };
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err;
    return (console.error(`${prefix}: ${err.message}\n\n${subUsage(group, sub)}`), exitCodes.usage);
  }
  try {
    return await sub.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) return (console.error(`${prefix}: ${err.message}`), exitCodes.usage);
    return report(prefix, err);
  }
}

/** Runs `atelier <group> <sub> …`; resolves to the exit code. */
export async function runGroup(group: string, subs: Record<string, Subcommand>, args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(groupUsage(group, subs));
    return name ? exitCodes.ok : exitCodes.usage;
  }
  const sub = Object.hasOwn(subs, name) ? subs[name] : undefined;
  if (!sub) return (console.error(`atelier ${group}: unknown command '${name}'\n\n${groupUsage(group, subs)}`), exitCodes.usage);
  return runSub(group, name, sub, rest);
}

/** Prints `value` as JSON (--json) or as the given text. */
export function print(ctx: RemoteContext, value: unknown, text: () => string): void {
  console.log(ctx.json ? JSON.stringify(value, null, 2) : text());
}

/** A fixed-width table of rows (strings), header first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** Unix seconds as an ISO date (or '-'). */
export function when(seconds: unknown): string {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString().replace('.000Z', 'Z') : '-';
}
