/**
 * `atelier chat MODEL`: a streamed chat with a base or fine-tuned model of a running server
 * (POST /v1/chat/completions, stream: true). `-m TEXT` asks once and exits; otherwise each line of
 * stdin is a user turn (a REPL on a terminal, the conversation kept), until EOF or `/exit`.
 */
import { createInterface } from 'node:readline';
import { sseData } from '../http-client.ts';
import { runSub, UsageError, type RemoteContext, type Subcommand } from '../remote-command.ts';

type Message = { role: 'system' | 'user' | 'assistant'; content: string };
type Chunk = { choices?: { delta?: { content?: string | null } }[] };

function requestBody(ctx: RemoteContext, messages: Message[], stream: boolean): Record<string, unknown> {
  const v = ctx.values;
  const num = (name: string) => {
    if (v[name] === undefined) return undefined;
    const n = Number(v[name]);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number >= 0, got '${String(v[name])}'`);
    return n;
  };
  return { model: ctx.args[0], messages, stream, max_tokens: num('max-tokens'), temperature: num('temperature') };
}

/** Streams one answer to stdout; resolves to its text. */
async function ask(ctx: RemoteContext, messages: Message[]): Promise<string> {
  const res = await ctx.client.send('POST', '/v1/chat/completions', { json: requestBody(ctx, messages, true) });
  let text = '';
  for await (const data of sseData(res)) {
    const piece = (JSON.parse(data) as Chunk).choices?.[0]?.delta?.content ?? '';
    text += piece;
    process.stdout.write(piece);
  }
  process.stdout.write('\n');
  return text;
}

async function oneShot(ctx: RemoteContext, messages: Message[]): Promise<number> {
  if (!ctx.json) return (await ask(ctx, messages), 0);
  console.log(JSON.stringify(await ctx.client.json('POST', '/v1/chat/completions', { json: requestBody(ctx, messages, false) }), null, 2));
  return 0;
}

async function repl(ctx: RemoteContext, history: Message[]): Promise<number> {
  const tty = Boolean(process.stdin.isTTY);
  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, prompt: '> ' });
  if (tty) console.log(`chatting with ${ctx.args[0]}; /exit or Ctrl-D to quit`);
  rl.prompt();
  for await (const line of rl) {
    const text = line.trim();
    if (text === '/exit') break;
    if (text) {
      history.push({ role: 'user', content: text });
      history.push({ role: 'assistant', content: await ask(ctx, history) });
    }
    rl.prompt();
  }
  rl.close();
  return 0;
}

async function chat(ctx: RemoteContext): Promise<number> {
  const system = ctx.values.system as string | undefined;
  const history: Message[] = system ? [{ role: 'system', content: system }] : [];
  const message = ctx.values.message as string | undefined;
  if (message !== undefined) return oneShot(ctx, [...history, { role: 'user', content: message }]);
  if (ctx.json) throw new UsageError('--json needs -m TEXT (one question, one JSON answer)');
  return repl(ctx, history);
}

const command: Subcommand = {
  synopsis: 'chat MODEL [-m TEXT] [--system TEXT] [--max-tokens N] [--temperature T]',
  summary: 'chat with a model, streamed: one question with -m (with --json: the whole completion object), else a REPL reading stdin',
  options: { message: { type: 'string', short: 'm' }, system: { type: 'string' }, 'max-tokens': { type: 'string' }, temperature: { type: 'string' } },
  positionals: 1,
  run: chat,
};

export function run(args: string[]): Promise<number> {
  return runSub('', 'chat', command, args);
}
