/**
 * Entry point of the `atelier` command: finds the sub-command and hands it the remaining
 * arguments. Each command lives in its own module under ./commands and is loaded on demand, so
 * `atelier data validate` never pays for the HTTP server's imports. Exit codes: docs/cli.md.
 */
import { readFileSync } from 'node:fs';

type CommandModule = { run(args: string[]): Promise<number> };

const commands: Record<string, () => Promise<CommandModule>> = {
  serve: () => import('./commands/serve.ts'),
  worker: () => import('./commands/worker.ts'),
  keys: () => import('./commands/keys.ts'),
  data: () => import('./commands/data.ts'),
  quickstart: () => import('./commands/quickstart.ts'),
  files: () => import('./commands/files.ts'),
  jobs: () => import('./commands/jobs.ts'),
  models: () => import('./commands/models.ts'),
  chat: () => import('./commands/chat.ts'),
  export: () => import('./commands/export.ts'),
};

const usage = `usage: atelier <command> [options]

on this machine:
  serve        start the API, the embedded worker and the serving engines
  worker       run a worker that claims jobs from a shared database
  keys         create and list API keys (atelier keys create --workspace W)
  data         validate | tokenize | reformat | split | stats dataset files
  quickstart   start Atelier and fine-tune the built-in model end to end
  export       download a model as PEFT, merged weights or GGUF (docs/export.md)

against a running server (--url / ATELIER_URL, --api-key / ATELIER_API_KEY):
  files        upload | list | get | delete | download
  jobs         create | list | get | start | cancel | watch
  models       list | get | update | archive | delete
  chat         chat with a model (streamed; -m TEXT for one question)

  --version    print the version

Run 'atelier <command> --help' for a command's options. Exit codes: 0 ok, 1 failed,
2 usage error, 3 server unreachable (docs/cli.md).`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `atelier ${pkg.version}`;
}

/** Runs the command named by args[0]; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === '--version' || name === '-V' || name === 'version') return (console.log(version()), 0);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage);
    return name ? 0 : 2;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    console.error(`atelier: unknown command '${name}'\n\n${usage}`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}
