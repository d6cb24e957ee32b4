/**
 * Random dataset lines with hard text, written as raw JSONL (so number spellings such as 21.00 and
 * key order reach both encoders unchanged). Used by the parity test against mistral-common.
 */

/** mulberry32: a small seeded PRNG in [0, 1), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'Hello', 'world', 'the', ' weather', 'Paris', '123', '3.14', '\r', '\r\n', '\n', '\n\n', '\t', ' ', '  ',
  '   ', '\ufeff', 'e\u0301', 'n\u0303o', '😀', '👨‍👩‍👧', '日本語', '中文', '한국어', 'ß', 'İ', 'ﬁ', '\u00a0',
  '\u200b', '[INST]', '[/INST]', '<s>', '</s>', '[TOOL_CALLS]', '[AVAILABLE_TOOLS]', '[REFERENCE_DOC_1]',
  '[control_12]', '<unk>', '<0x0A>', '▁', '{"a": 1}', 'naïve', 'Ω≈ç√', 'ا', 'עברית', '¿Qué?', '!!', '...',
];

export function makeConversations(count: number, seed: number): string[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const int = (n: number): number => Math.floor(rnd() * n);
  const text = (min = 0): string => {
    const n = min + int(6);
    let s = '';
    for (let i = 0; i < n; i++) s += pick(PIECES) + (rnd() < 0.4 ? ' ' : '');
    return s;
  };
  const nonEmpty = (): string => {
    const s = text(1);
    return s.replace(/ +$/, '') === '' ? `${s}x` : s;
  };
  const id = (): string => {
    const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let s = '';
    for (let i = 0; i < 9; i++) s += pick([...abc]);
    return s;
  };
  const rawJson = (): string =>
    pick([
      `{"city": ${JSON.stringify(text())}, "temp": 21.00}`,
      `{"n":1e2,"big":12345678901234567890123,"neg":-0,"f":-0.0}`,
      `{"2": "b", "1": "a", "x": [1, 2.5, true, null]}`,
      `{"nested": {"deep": {"s": "\\u00e9\\ud83d\\ude00"}}, "list": []}`,
      `{"tiny": 0.00001, "huge": 1e16, "mid": 123456789.125}`,
      `  {"spaced" :  "yes" }  `,
      `[1, "two", {"three": 3.0}]`,
      '"just a string"',
      '42',
    ]);
  const lines: string[] = [];
  for (let c = 0; c < count; c++) {
    const msgs: string[] = [];
    let usesTools = false;
    if (rnd() < 0.4) msgs.push(JSON.stringify({ role: 'system', content: text() }));
    const turns = 1 + int(3);
    for (let t = 0; t < turns; t++) {
      msgs.push(JSON.stringify({ role: 'user', content: text() }));
      if (rnd() < 0.15) msgs.push(JSON.stringify({ role: 'user', content: text() }));
      if (rnd() < 0.1) msgs.push(JSON.stringify({ role: 'system', content: text() }));
      const weight = pick(['', '', ', "weight": 0', ', "weight": 1', ', "weight": 1.0']);
      if (rnd() < 0.35) {
        usesTools = true;
        const calls: string[] = [];
        const ids: string[] = [];
        for (let k = 0, n = 1 + int(3); k < n; k++) {
          const callId = id();
          ids.push(callId);
          const args = rnd() < 0.25 ? rawJson() : JSON.stringify(rnd() < 0.85 ? rawJson() : text());
          calls.push(`{"id": "${callId}", "type": "function", "function": {"name": "get_weather", "arguments": ${args}}}`);
        }
        const withContent = rnd() < 0.1 ? `, "content": ${JSON.stringify(nonEmpty())}` : '';
        msgs.push(`{"role": "assistant", "tool_calls": [${calls.join(', ')}]${withContent}${weight}}`);
        for (const callId of ids) {
          const content = rnd() < 0.5 ? JSON.stringify(rawJson()) : JSON.stringify(rnd() < 0.1 ? '' : text());
          msgs.push(`{"role": "tool", "tool_call_id": "${callId}", "name": "get_weather", "content": ${content}}`);
        }
      }
      const reply = rnd() < 0.05 ? '   ' : nonEmpty() + (rnd() < 0.3 ? '  ' : '');
      msgs.push(`{"role": "assistant", "content": ${JSON.stringify(reply)}${weight}}`);
      if (rnd() < 0.1) msgs.push(JSON.stringify({ role: 'assistant', content: nonEmpty() }));
    }
    const tools = usesTools || rnd() < 0.1
      ? `, "tools": [{"type": "function", "function": {"name": "get_weather", "description": ${JSON.stringify(text())}, "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number", "minimum": -50.0, "maximum": 1e2}}, "required": ["city"]}}}]`
      : '';
    lines.push(`{"messages": [${msgs.join(', ')}]${tools}}`);
  }
  return lines;
}
