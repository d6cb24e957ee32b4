/**
 * `atelier data tokenize --tokenizer FILE [--json] [--version vN] [--mode train|serve]
 * [--last-turn-only] [--strip-final-call-ids]`: reads one dataset line per stdin line and prints,
 * per line, `{"tokens":[...],"mask":[...]}`. A line that cannot be encoded prints
 * `{"error":"..."}` in its place (so output line i always answers input line i), its message goes
 * to stderr with the line number, the rest is still encoded, and the exit code is 1. Blank lines
 * are skipped. Output is JSON lines with or without --json (the flag is accepted for symmetry with
 * `data validate`).
 */
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { loadTokenizer, TOKENIZER_VERSIONS, type MaskPolicy } from '../../tokenizer/index.ts';

const usage = `usage: atelier data tokenize --tokenizer FILE [--json] [--version vN] [--mode train|serve]
                               [--last-turn-only] [--strip-final-call-ids] < samples.jsonl`;

const flagsSchema = z.object({
  tokenizer: z.string().min(1),
  version: z.enum(TOKENIZER_VERSIONS).optional(),
  mode: z.enum(['train', 'serve']).default('train'),
  lastTurnOnly: z.boolean().default(false),
  stripFinalCallIds: z.boolean().default(false),
});

function parseFlags(args: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--/, '');
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    if (['json', 'last-turn-only', 'strip-final-call-ids', 'help'].includes(name)) out[name] = true;
    else if (['tokenizer', 'version', 'mode'].includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      out[name] = v;
    } else throw new Error(`unknown option '${a}'`);
  }
  return out;
}

/** Runs the command; resolves to the exit code. */
export async function run(args: string[]): Promise<number> {
  let flags: z.infer<typeof flagsSchema>;
  try {
    const raw = parseFlags(args);
    if (raw.help) {
      console.log(usage);
      return 0;
    }
    flags = flagsSchema.parse({
      tokenizer: raw.tokenizer,
      version: raw.version,
      mode: raw.mode,
      lastTurnOnly: raw['last-turn-only'] === true,
      stripFinalCallIds: raw['strip-final-call-ids'] === true,
    });
  } catch (e) {
    const msg = e instanceof z.ZodError ? e.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ') : String((e as Error).message);
    console.error(`atelier data tokenize: ${msg}\n${usage}`);
    return 2;
  }
  let tok;
  try {
    tok = await loadTokenizer(flags.tokenizer, { version: flags.version });
  } catch (e) {
    console.error(`atelier data tokenize: cannot load ${flags.tokenizer}: ${(e as Error).message}`);
    return 1;
  }
  const policy: MaskPolicy = { lastTurnOnly: flags.lastTurnOnly, stripFinalCallIds: flags.stripFinalCallIds };
  let failed = 0;
  let lineNo = 0;
  let buffered = '';
  const write = async (s: string): Promise<void> => {
    buffered += s;
    if (buffered.length < 1 << 16) return;
    const chunk = buffered;
    buffered = '';
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
  };
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      const { tokens, mask } = tok.encodeLine(line, { mode: flags.mode, policy });
      await write(`{"tokens":[${tokens.join(',')}],"mask":[${mask.join(',')}]}\n`);
    } catch (e) {
      failed++;
      const msg = (e as Error).message;
      console.error(`line ${lineNo}: ${msg}`);
      await write(`${JSON.stringify({ error: `line ${lineNo}: ${msg}` })}\n`);
    }
  }
  if (buffered) await new Promise<void>((r) => process.stdout.write(buffered, () => r()));
  return failed ? 1 : 0;
}
