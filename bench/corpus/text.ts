/**
 * Turn text drawn from the sources: English paragraphs, runs of neighbouring translated messages,
 * code blocks cut from real source files, and lines of numbers (amounts, dates, versions, ids).
 */
import type { Random } from './random.ts';
import type { Language, Sources } from './sources.ts';

export type Length = 'short' | 'medium' | 'long' | 'huge';

export class TextMaker {
  constructor(
    private readonly src: Sources,
    private readonly r: Random,
  ) {}

  /** A first sentence (or a short message) in `lang`, usable as a question or a title. */
  sentence(lang: Language): string {
    if (lang !== 'en') return this.r.pick(this.src.translations[lang]);
    const p = this.r.pick(this.src.prose);
    const cut = p.search(/[.!?:]\s/);
    return cut > 20 ? p.slice(0, cut + 1) : p.slice(0, 200);
  }

  /** A paragraph in `lang`: one English paragraph, or 2-8 neighbouring translated messages. */
  paragraph(lang: Language): string {
    if (lang === 'en') return this.r.pick(this.src.prose);
    const list = this.src.translations[lang];
    const start = this.r.int(0, list.length - 1);
    const n = this.r.int(2, 8);
    return list.slice(start, start + n).join(lang === 'ja' || lang === 'zh_CN' ? '' : ' ');
  }

  /** A fenced code block of 3-40 lines cut from a real source file. */
  codeBlock(): string {
    const [tag, lines] = this.r.pick(this.src.code);
    const n = this.r.geometric(3, 0.9, 40);
    const start = this.r.int(0, Math.max(0, lines.length - n));
    return `\`\`\`${tag}\n${lines.slice(start, start + n).join('\n')}\n\`\`\``;
  }

  /** A line full of numbers, in the shapes chat data has them. */
  numbers(): string {
    const r = this.r;
    const amount = (r.int(1, 999_999) / 100).toFixed(2);
    const forms = [
      `Total: ${amount} EUR (${r.int(1, 99)}.${r.int(0, 9)}% of ${r.int(1000, 99_999).toLocaleString('en-US')})`,
      `${r.int(2015, 2026)}-${String(r.int(1, 12)).padStart(2, '0')}-${String(r.int(1, 28)).padStart(2, '0')} ${String(r.int(0, 23)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}`,
      `v${r.int(0, 9)}.${r.int(0, 30)}.${r.int(0, 99)} → v${r.int(0, 9)}.${r.int(0, 30)}.${r.int(0, 99)}`,
      `#${r.int(1, 99_999)}, 0x${r.int(0, 0xffffff).toString(16)}, ${r.int(-500, 500)} / ${r.next().toExponential(3)}`,
      `+33 ${r.int(1, 9)} ${r.int(10, 99)} ${r.int(10, 99)} ${r.int(10, 99)} ${r.int(10, 99)}`,
      `${r.int(1, 4096)} MiB, ${r.int(1, 64)} cores, ${(r.next() * 100).toFixed(1)} °C, ${r.int(1, 9999)} ms`,
    ];
    return r.pick(forms);
  }

  /** A turn of the given length: paragraphs, sometimes a code block or a line of numbers. */
  turn(lang: Language, length: Length): string {
    if (length === 'short') return this.r.chance(0.15) ? `${this.sentence(lang)} ${this.numbers()}` : this.sentence(lang);
    const count = { medium: [1, 2], long: [3, 8], huge: [15, 40] }[length];
    const parts: string[] = [];
    for (let n = this.r.int(count[0] as number, count[1] as number); parts.length < n;) {
      const kind = this.r.weighted({ text: 0.8, code: length === 'medium' ? 0.08 : 0.15, numbers: 0.07 });
      parts.push(kind === 'code' ? this.codeBlock() : kind === 'numbers' ? this.numbers() : this.paragraph(lang));
    }
    return parts.join(this.r.chance(0.9) ? '\n\n' : '\n');
  }
}
