/**
 * Tokenizer throughput: Atelier's TypeScript tokenizer against mistral-common 1.12
 * (bench/tokenizer_ref.py) on the same text, for the v3 SentencePiece and the v3 Tekken (Nemo) files.
 *   node --import tsx bench/tokenizer.ts [--mb 2]
 * raw: plain-text encode, one call per line of a corpus built from the README files under
 * node_modules and .venv/lib (*.md, *.rst, *.txt: prose, markdown and code; ~--mb MB); chat: train-mode encoding (tokens + loss mask) of
 * JSONL conversations cut from the same corpus, a third with tool calls. Both sides must produce
 * the same token counts (checked). Atelier is timed on a first pass (cold caches) and a second
 * pass (warm word/chunk caches). Writes bench/results/tokenizer.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../src/tokenizer/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mbArg = process.argv.indexOf('--mb');
const MB = mbArg > 0 ? Number(process.argv[mbArg + 1]) : 2;
const python = path.join(root, '.venv/bin/python');
const dataDir = execFileSync(python, ['-c', 'import mistral_common,os;print(os.path.join(os.path.dirname(mistral_common.__file__),"data"))'], { encoding: 'utf8' }).trim();

function collectDocs(dir: string, out: string[], budget: { left: number }): void {
  for (const name of readdirSync(dir).sort()) {
    if (budget.left <= 0) return;
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) collectDocs(p, out, budget);
    else if (/\.(md|rst|txt)$/i.test(name)) {
      const text = readFileSync(p, 'utf8');
      out.push(text);
      budget.left -= Buffer.byteLength(text);
    }
  }
}

function buildChat(paragraphs: string[]): string[] {
  const lines: string[] = [];
  const tools = [{ type: 'function', function: { name: 'search_docs', description: 'Search the documentation', parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } } }];
  for (let i = 0; i + 4 < paragraphs.length; i += 4) {
    const [sys, u1, a1, u2] = paragraphs.slice(i, i + 4) as [string, string, string, string];
    const messages: unknown[] = [{ role: 'system', content: sys.slice(0, 200) }, { role: 'user', content: u1 }];
    const withTools = (i / 4) % 3 === 0;
    if (withTools) {
      messages.push({ role: 'assistant', tool_calls: [{ id: 'abcDEF123', type: 'function', function: { name: 'search_docs', arguments: JSON.stringify({ query: u1.slice(0, 40) }) } }] });
      messages.push({ role: 'tool', tool_call_id: 'abcDEF123', content: JSON.stringify({ result: a1.slice(0, 300) }) });
    }
    messages.push({ role: 'assistant', content: a1 }, { role: 'user', content: u2 }, { role: 'assistant', content: paragraphs[i + 4] });
    lines.push(JSON.stringify(withTools ? { messages, tools } : { messages }));
  }
  return lines;
}

function rate(tokens: number, bytes: number, seconds: number, cpuSeconds?: number) {
  const r = { tokens, seconds, tokens_per_s: tokens / seconds, mb_per_s: bytes / 1e6 / seconds };
  return cpuSeconds === undefined ? r : { ...r, cpu_seconds: cpuSeconds, mb_per_cpu_s: bytes / 1e6 / cpuSeconds };
}

/** Wall and CPU seconds of fn (CPU time is the fairer figure on a machine shared with other work). */
function timed(fn: () => void): [number, number] {
  const t = performance.now();
  const c = process.cpuUsage();
  fn();
  const u = process.cpuUsage(c);
  return [(performance.now() - t) / 1000, (u.user + u.system) / 1e6];
}

async function main(): Promise<void> {
  const texts: string[] = [];
  const budget = { left: MB * 1e6 };
  collectDocs(path.join(root, 'node_modules'), texts, budget);
  collectDocs(path.join(root, '.venv', 'lib'), texts, budget);
  const corpus = texts.join('\n');
  const lines = corpus.split('\n');
  const paragraphs = corpus.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p.length > 20);
  const chat = buildChat(paragraphs);
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-bench-tok-'));
  const textFile = path.join(dir, 'text.txt');
  const chatFile = path.join(dir, 'chat.jsonl');
  writeFileSync(textFile, corpus);
  writeFileSync(chatFile, chat.join('\n') + '\n');
  const textBytes = Buffer.byteLength(corpus);
  const chatBytes = Buffer.byteLength(chat.join('\n'));
  const results: Record<string, unknown> = {
    command: `node --import tsx bench/tokenizer.ts --mb ${MB}`,
    corpus: { text_mb: textBytes / 1e6, text_lines: lines.length, chat_samples: chat.length, chat_mb: chatBytes / 1e6 },
    machine: 'shared 2-core CPU box (other engineers running at the same time)',
  };
  try {
    for (const [label, name] of [['spm_v3', 'mistral_instruct_tokenizer_240323.model.v3'], ['tekken_v3', 'tekken_240718.json']] as const) {
      const file = path.join(dataDir, name);
      let t = performance.now();
      const tok = await loadTokenizer(file);
      const loadS = (performance.now() - t) / 1000;
      tok.encodeText('warm up the JIT on a line that is not in the corpus 12345');
      let n = 0;
      let m = 0;
      const [rawS, rawCpu] = timed(() => {
        for (const line of lines) n += tok.encodeText(line).length;
      });
      const [chatS, chatCpu] = timed(() => {
        for (const line of chat) m += tok.encodeLine(line, { mode: 'train' }).tokens.length;
      });
      // Second pass: the word/chunk caches are warm, as they are a few MB into a real dataset.
      const [rawWarmS, rawWarmCpu] = timed(() => {
        for (const line of lines) tok.encodeText(line);
      });
      const [chatWarmS, chatWarmCpu] = timed(() => {
        for (const line of chat) tok.encodeLine(line, { mode: 'train' });
      });
      const ref = JSON.parse(execFileSync(python, [path.join(root, 'bench/tokenizer_ref.py'), '--tokenizer', file, '--text', textFile, '--chat', chatFile], { encoding: 'utf8', maxBuffer: 1 << 28 })) as {
        load_s: number;
        raw: { tokens: number; seconds: number; cpu_seconds: number };
        chat: { tokens: number; seconds: number; cpu_seconds: number };
      };
      if (ref.raw.tokens !== n || ref.chat.tokens !== m) throw new Error(`${label}: token counts differ (raw ${n} vs ${ref.raw.tokens}, chat ${m} vs ${ref.chat.tokens})`);
      const atelier = {
        load_s: loadS,
        raw: rate(n, textBytes, rawS, rawCpu),
        chat: rate(m, chatBytes, chatS, chatCpu),
        raw_warm_cache: rate(n, textBytes, rawWarmS, rawWarmCpu),
        chat_warm_cache: rate(m, chatBytes, chatWarmS, chatWarmCpu),
      };
      const mc = { load_s: ref.load_s, raw: rate(n, textBytes, ref.raw.seconds, ref.raw.cpu_seconds), chat: rate(m, chatBytes, ref.chat.seconds, ref.chat.cpu_seconds) };
      results[label] = {
        atelier,
        mistral_common: mc,
        speedup: {
          raw: ref.raw.seconds / rawS,
          chat: ref.chat.seconds / chatS,
          raw_warm_cache: ref.raw.seconds / rawWarmS,
          chat_warm_cache: ref.chat.seconds / chatWarmS,
        },
        speedup_cpu: {
          raw: ref.raw.cpu_seconds / rawCpu,
          chat: ref.chat.cpu_seconds / chatCpu,
          raw_warm_cache: ref.raw.cpu_seconds / rawWarmCpu,
          chat_warm_cache: ref.chat.cpu_seconds / chatWarmCpu,
        },
      };
      console.log(label, JSON.stringify(results[label]));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync(path.join(root, 'bench/results/tokenizer.json'), JSON.stringify(results, null, 2) + '\n');
}

await main();
