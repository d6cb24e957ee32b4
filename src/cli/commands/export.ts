/**
 * `atelier export MODEL --format peft|merged-hf|merged-mistral|gguf --out DIR`: asks a running
 * server (`--url` / ATELIER_URL, `--api-key` / ATELIER_API_KEY) for the export and unpacks the tar
 * into DIR as it streams in. docs/export.md lists what each format holds and how to load it.
 */
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { exportDtypes, exportFormats, exportQuants } from '../../exports/index.ts';
import { untar } from '../untar.ts';

const usage = `usage: atelier export MODEL --format peft|merged-hf|merged-mistral|gguf --out DIR
         [--dtype fp32|bf16|fp16] [--quant f16|q8_0|...] [--url URL] [--api-key KEY] [--json]

  MODEL     a fine-tuned model id (ft:...) or a base model id (all formats but peft)
  --format  peft: adapter package (PEFT + mistral-inference files, README card)
            merged-hf / merged-mistral: full weights with the adapter folded in
            gguf: llama.cpp / Ollama model (+ GGUF LoRA and Modelfiles for a fine-tune)
  --dtype   tensor dtype of peft and merged exports (default: the base model's)
  --quant   GGUF type: ${exportQuants.join(', ')} (default f16)
  --url     server URL (default $ATELIER_URL, else http://127.0.0.1:8000)
  --api-key API key (default $ATELIER_API_KEY)`;

const flags = z.object({
  format: z.enum(exportFormats),
  out: z.string().min(1),
  dtype: z.enum(exportDtypes).optional(),
  quant: z.enum(exportQuants).optional(),
  url: z.string().url(),
  'api-key': z.string().min(1, 'give --api-key or set ATELIER_API_KEY'),
  json: z.boolean().optional(),
});
type Flags = z.output<typeof flags>;

function parse(args: string[]): { model: string; flags: Flags } {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true, strict: true,
    options: { format: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, quant: { type: 'string' },
      url: { type: 'string' }, 'api-key': { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new Error('give exactly one MODEL');
  const env = { url: process.env.ATELIER_URL ?? 'http://127.0.0.1:8000', 'api-key': process.env.ATELIER_API_KEY ?? '' };
  const parsed = flags.safeParse({ ...env, ...values });
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  return { model: positionals[0] as string, flags: parsed.data };
}

function exportUrl(model: string, f: Flags): string {
  const q = new URLSearchParams({ format: f.format });
  if (f.dtype) q.set('dtype', f.dtype);
  if (f.quant) q.set('quant', f.quant);
  return `${f.url.replace(/\/+$/, '')}/v1/models/${encodeURIComponent(model)}/export?${q}`;
}

/** Runs `atelier export …`; resolves to the exit code (2 usage, 1 server refusal or failure). */
export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) return (console.log(usage), 0);
  let p: ReturnType<typeof parse>;
  try {
    p = parse(args);
  } catch (err) {
    console.error(`atelier export: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return 2;
  }
  const res = await fetch(exportUrl(p.model, p.flags), { headers: { authorization: `Bearer ${p.flags['api-key']}` } });
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    console.error(`atelier export: ${res.status} ${body.message ?? res.statusText}`);
    return 1;
  }
  await mkdir(p.flags.out, { recursive: true });
  const files = await untar(res.body, p.flags.out);
  if (p.flags.json) console.log(JSON.stringify({ model: p.model, format: p.flags.format, out: p.flags.out, files }));
  else for (const f of files) console.log(`${p.flags.out}/${f.name}  ${f.bytes} bytes`);
  return 0;
}
