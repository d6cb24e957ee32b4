import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { dumpsPy, loadTokenizer, loadsPy, MISTRAL_FINETUNE_POLICY } from './index.ts';
import { PyJsonError } from './py-json.ts';
import { repoRoot, referenceDataDir, venvPython } from '../../test/helpers/test-paths.ts';
import { writeSyntheticTekken } from '../../test/helpers/synthetic-tekken.ts';

const dir = mkdtempSync(join(tmpdir(), 'atelier-tok-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const v3 = () => join(referenceDataDir(), 'mistral_instruct_tokenizer_240323.model.v3');
const tekken = () => join(referenceDataDir(), 'tekken_240718.json');
const v7 = () => join(referenceDataDir(), 'mistral_instruct_tokenizer_241114.model.v7');

test('Python-compatible JSON re-serialises exactly like json.dumps(json.loads(s), ensure_ascii=False)', () => {
  const inputs = [
    '{"a":21.00,"b":1e2,"c":12345678901234567890123,"d":-0,"e":-0.0}',
    '{"2":"b","1":"a","1":"dup"}',
    '[0.1, 1e-5, 1e-4, 1e16, 1e15, 123456789.125, 5e-324, 1.7976931348623157e308, 1e400, -1e400]',
    '"\\u00e9\\ud83d\\ude00 \\n\\t\\"\\\\ \\u0001 \\u007f"',
    '  {"spaced" :  "yes" }  ',
    'NaN', '[Infinity, -Infinity]', 'not json', '01', '1.', '{"a":1,}', '"\ufeff"', '\ufeff1', '"raw\tcontrol"',
    '{"x": [true, false, null, {}, []]}', '3.0000000000000004', '100', '-12.5E+3',
  ];
  const py = execFileSync(
    venvPython,
    ['-c', 'import json,sys\nfor s in json.load(sys.stdin):\n  try: print(json.dumps(json.dumps(json.loads(s), ensure_ascii=False)))\n  except ValueError: print(json.dumps("ERROR"))'],
    { input: JSON.stringify(inputs), encoding: 'utf8' },
  ).trim().split('\n').map((l) => JSON.parse(l) as string);
  inputs.forEach((s, i) => {
    let mine: string;
    try {
      mine = dumpsPy(loadsPy(s));
    } catch (err) {
      if (!(err instanceof PyJsonError)) throw err; // what Python raises as JSONDecodeError (a ValueError)
      mine = 'ERROR';
    }
    assert.equal(mine, py[i], `input ${JSON.stringify(s)}`);
  });
});

test('text that looks like control tokens is encoded as ordinary text', async () => {
  for (const path of [v3(), tekken()]) {
    const tok = await loadTokenizer(path);
    const ids = tok.encodeText('<s>[INST] hi [/INST]</s>[TOOL_CALLS]');
    for (const name of ['bos', 'eos', 'inst', 'endInst', 'toolCalls']) assert.ok(!ids.includes(tok.special[name] as number), name);
  }
});

test('decode gives back the encoded text, and the stream decoder never emits half a character', async () => {
  const text = 'Hé 𝄞 日本語 😀 \r\n\ufeff tabs\tand  spaces ';
  for (const path of [v3(), tekken()]) {
    const tok = await loadTokenizer(path);
    const ids = tok.encodeText(text, { bos: true, eos: true });
    assert.equal(tok.decode(ids), text);
    const d = tok.streamDecoder();
    let out = '';
    for (const id of ids) {
      const piece = d.push(id);
      assert.ok(!piece.includes('\ufffd'), `replacement char after id ${id}`);
      out += piece;
    }
    assert.equal(out + d.flush(), text);
  }
});

test('loading is cached per path and mtime, and the version can be forced', async () => {
  const a = await loadTokenizer(v3());
  assert.equal(await loadTokenizer(v3()), a);
  assert.equal(a.version, 'v3');
  assert.equal(a.vocabSize, 32768);
  assert.deepEqual([a.special.bos, a.special.eos, a.special.inst, a.special.toolCalls], [1, 2, 3, 5]);
  const forced = await loadTokenizer(v3(), { version: 'v2' });
  assert.equal(forced.version, 'v2');
  const t = await loadTokenizer(tekken());
  assert.deepEqual([t.vocabSize, t.special.toolCalls, t.special.toolContent], [131072, 9, 19]);
});

const toolSample = {
  messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', tool_calls: [{ id: 'TX92Jm8Zi', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
    { role: 'tool', tool_call_id: 'TX92Jm8Zi', content: '{"temp": 21}' },
    { role: 'assistant', content: '21C.' },
    { role: 'user', content: 'And Rome?' },
    { role: 'assistant', tool_calls: [{ id: '3XhQnxLsT', type: 'function', function: { name: 'get_weather', arguments: { city: 'Rome' } } }] },
  ],
  tools: [{ type: 'function', function: { name: 'get_weather', description: 'Get weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
};

test('the default mask trains every assistant turn; the mistral-finetune policy trains the last one without its ids', async () => {
  const tok = await loadTokenizer(tekken());
  const all = tok.encodeChat(toolSample, { mode: 'train' });
  const trained = (e: { tokens: number[]; mask: number[] }) => tok.decode(e.tokens.filter((_, i) => e.mask[i] === 1));
  assert.equal(trained(all), '[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "TX92Jm8Zi"}]21C.[{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "3XhQnxLsT"}]');
  assert.equal(all.mask.filter((m, i) => m === 1 && all.tokens[i] === tok.special.eos).length, 3);
  const last = tok.encodeChat(toolSample, { mode: 'train', policy: MISTRAL_FINETUNE_POLICY });
  assert.equal(trained(last), '[{"name": "get_weather", "arguments": {"city": "Rome"}}]');
  assert.equal(last.mask[last.mask.length - 1], 1);
});

test('model output with tool calls is parsed back for the v3, v7, v11 and v13 layouts', async () => {
  const want = [{ id: '3XhQnxLsT', name: 'get_weather', arguments: '{"city": "Rome"}' }];
  for (const path of [v3(), v7(), writeSyntheticTekken(dir, 'v11'), writeSyntheticTekken(dir, 'v13')]) {
    const tok = await loadTokenizer(path);
    const version = tok.version;
    const full = tok.encodeChat(toolSample, { mode: 'train' }).tokens;
    const prompt = tok.encodeChat({ ...toolSample, messages: toolSample.messages.slice(0, 5) }, { mode: 'serve' }).tokens;
    assert.deepEqual(full.slice(0, prompt.length), prompt, `${path}: the prompt is a prefix of the training sample`);
    const out = tok.parseAssistantOutput(full.slice(prompt.length));
    assert.equal(out.content, '');
    assert.deepEqual(out.toolCalls, version === 'v13' ? [{ ...want[0], id: null }] : want);
  }
  const tok = await loadTokenizer(v3());
  assert.deepEqual(tok.parseAssistantOutput([...tok.encodeText('Plain answer.'), tok.special.eos as number]), { content: 'Plain answer.', toolCalls: [] });
});

test('encoding errors name the problem', async () => {
  const tok = await loadTokenizer(v3());
  assert.throws(() => tok.encodeChat({ messages: [] }, { mode: 'train' }), /messages/);
  assert.throws(() => tok.encodeChat({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: '' }] }, { mode: 'train' }), /content or tool_calls/);
  assert.throws(() => tok.encodeChat({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] }, { mode: 'serve' }), /ends with a user or tool/);
});

function runCli(args: string[], input: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/commands/data-tokenize.ts').then(async m => { process.exitCode = await m.run(process.argv.slice(1)); })", '--', ...args], { cwd: repoRoot, input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('data tokenize prints tokens and mask per line, and an error line in place of a bad sample', async () => {
  const good = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] });
  const r = runCli(['--tokenizer', join(repoRoot, 'models', 'tiny-mistral', 'tokenizer.model.v3'), '--json'], `${good}\nnot json\n${good}\n`);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { tokens?: number[]; mask?: number[]; error?: string });
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[0], { tokens: [1, 3, 16127, 4, 23325, 29576, 2], mask: [0, 0, 0, 0, 1, 1, 1] });
  assert.match(lines[1]?.error ?? '', /^line 2: /);
  assert.deepEqual(lines[2], lines[0]);
  assert.match(r.stderr, /line 2: /);
  assert.equal(runCli(['--json'], '').code, 2);
});
