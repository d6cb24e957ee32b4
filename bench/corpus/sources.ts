/**
 * The text a benchmark corpus is drawn from, read from files every Atelier machine has: the docs
 * of the npm and Python packages the project installs (node_modules, .venv site-packages: pinned by
 * package-lock.json and trainer/requirements*.txt), their source code (for code blocks), Debian's
 * /usr/share/doc (READMEs, copyright files, changelogs) and the gettext catalogs under
 * /usr/share/locale (French, Japanese, Chinese, ... translations of coreutils, glibc, gtk,
 * PostgreSQL messages), plus axe-core's and yargs' locale files from node_modules. Reading is
 * deterministic (sorted walks, fixed budgets); `digest` identifies the text that was read, since
 * /usr/share differs between Debian images.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Languages drawn from the gettext catalogs, with the share of samples written in each. */
export const LANGUAGE_SHARES = {
  en: 0.68, fr: 0.12, ja: 0.04, zh_CN: 0.04, de: 0.03, es: 0.03, ru: 0.02, ko: 0.02, it: 0.01, pt_BR: 0.01,
} as const;
export type Language = keyof typeof LANGUAGE_SHARES;

export type Sources = {
  /** English paragraphs (markdown, reStructuredText, changelog and license prose). */
  prose: string[];
  /** Source files as lines, for code blocks: [language tag, lines]. */
  code: [string, string[]][];
  /** Translated messages per language (catalog order, so neighbours belong together). */
  translations: Record<Exclude<Language, 'en'>, string[]>;
  stats: { files: number; bytes: number; digest: string };
};

const DOC_EXT = /\.(md|markdown|rst|txt)$/i;
const CODE_EXT: Record<string, string> = { '.py': 'python', '.ts': 'typescript', '.js': 'javascript', '.sh': 'bash' };
const BUDGET = { docFile: 200_000, docs: 8_000_000, sysDocFile: 48_000, sysDocs: 16_000_000, codeFile: 64_000, code: 8_000_000, perLanguage: 3_000_000 };

class Reader {
  private hash = createHash('sha256');
  files = 0;
  bytes = 0;

  /** Reads at most `max` bytes of a file as UTF-8 (gunzipped when it ends in .gz); '' when unreadable. */
  read(file: string, max: number): string {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
      if (file.endsWith('.gz')) buf = gunzipSync(buf);
    } catch {
      return ''; // a broken link or a corrupt archive: skip the file, the corpus stays deterministic
    }
    const text = buf.subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
    this.note(file, text);
    return text;
  }

  note(file: string, text: string): void {
    this.hash.update(`${path.basename(file)}\0${text}\0`);
    this.files += 1;
    this.bytes += Buffer.byteLength(text);
  }

  digest(): string {
    return this.hash.digest('hex').slice(0, 16);
  }
}

/** Every file under `dir` whose name passes `keep`, sorted; symlinked directories are not followed. */
function listFiles(dir: string, keep: (name: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== '.bin' && e.name !== '__pycache__') listFiles(p, keep, out);
    else if (e.isFile() && keep(e.name)) out.push(p);
  }
  return out;
}

/** Every k-th file, so a budget samples the whole tree instead of its alphabetical start. */
function spread(files: string[], share: number): string[] {
  const step = Math.max(1, Math.round(1 / share));
  return files.filter((_, i) => i % step === 0);
}

function paragraphs(text: string): string[] {
  return text.split(/\n[ \t]*\n/).map((p) => p.trim()).filter((p) => {
    if (p.length < 40 || p.length > 6000) return false;
    const letters = p.match(/\p{L}/gu)?.length ?? 0;
    return letters / p.length > 0.55;
  });
}

function readDocs(reader: Reader, roots: string[]): string[] {
  const out: string[] = [];
  let left = BUDGET.docs;
  for (const root of roots) {
    for (const file of listFiles(root, (n) => DOC_EXT.test(n))) {
      if (left <= 0) return out;
      const text = reader.read(file, BUDGET.docFile);
      left -= text.length;
      out.push(...paragraphs(text));
    }
  }
  return out;
}

function readSystemDocs(reader: Reader): string[] {
  const out: string[] = [];
  let left = BUDGET.sysDocs;
  const keep = (n: string) => n === 'copyright' || /^(README|NEWS|changelog)/i.test(n);
  for (const file of listFiles('/usr/share/doc', keep)) {
    if (left <= 0) break;
    const text = reader.read(file, BUDGET.sysDocFile);
    left -= text.length;
    out.push(...paragraphs(text));
  }
  return out;
}

function readCode(reader: Reader, roots: string[]): [string, string[]][] {
  const files = roots.flatMap((r) => listFiles(r, (n) => path.extname(n) in CODE_EXT && !n.endsWith('.min.js') && !n.endsWith('.d.ts')));
  const out: [string, string[]][] = [];
  let left = BUDGET.code;
  for (const file of spread(files, Math.min(1, (BUDGET.code / 8000) / Math.max(1, files.length)))) {
    if (left <= 0) break;
    const text = reader.read(file, BUDGET.codeFile);
    left -= text.length;
    const lines = text.split('\n');
    if (lines.length >= 8) out.push([CODE_EXT[path.extname(file)] as string, lines]);
  }
  return out;
}

/** The translated strings (msgstr) of a GNU gettext .mo catalog. */
export function moStrings(buf: Buffer): string[] {
  if (buf.length < 28) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0x950412de;
  if (!le && magic !== 0xde120495) return [];
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const count = u32(8);
  const table = u32(16);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = u32(table + 8 * i);
    const at = u32(table + 8 * i + 4);
    if (len === 0 || at + len > buf.length) continue;
    const s = (buf.toString('utf8', at, at + len).split('\0')[0] as string).trim();
    // Skip the catalog header and strings that are not UTF-8 (a few old catalogs use latin1).
    if (s.length >= 8 && !s.includes('\uFFFD') && !s.startsWith('Project-Id-Version')) out.push(s);
  }
  return out;
}

function jsonStrings(value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    if (value.length >= 8) out.push(value);
  } else if (value && typeof value === 'object') for (const v of Object.values(value)) jsonStrings(v, out);
}

function readTranslations(reader: Reader, nodeModules: string): Sources['translations'] {
  const out = {} as Sources['translations'];
  for (const lang of Object.keys(LANGUAGE_SHARES) as Language[]) {
    if (lang === 'en') continue;
    const strings: string[] = [];
    let left = BUDGET.perLanguage;
    for (const file of listFiles(`/usr/share/locale/${lang}/LC_MESSAGES`, (n) => n.endsWith('.mo'))) {
      if (left <= 0) break;
      let found: string[] = [];
      try {
        found = moStrings(readFileSync(file));
      } catch {
        continue;
      }
      reader.note(file, found.join('\n'));
      for (const s of found) left -= s.length;
      strings.push(...found);
    }
    for (const file of [`axe-core/locales/${lang}.json`, `yargs/locales/${lang}.json`]) {
      const text = reader.read(path.join(nodeModules, file), 1 << 20);
      if (text) jsonStrings(JSON.parse(text), strings);
    }
    out[lang] = strings;
  }
  return out;
}

/** Reads the source text from the project at `root`. Throws when a language has no text at all. */
export function readSources(root: string): Sources {
  const reader = new Reader();
  const nodeModules = realpathSync(path.join(root, 'node_modules'));
  const venvLib = path.join(realpathSync(path.join(root, '.venv')), 'lib');
  const sitePackages = readdirSync(venvLib).sort().map((d) => path.join(venvLib, d, 'site-packages'));
  const prose = [...readDocs(reader, [nodeModules, ...sitePackages]), ...readSystemDocs(reader)];
  const code = readCode(reader, [...sitePackages, nodeModules]);
  const translations = readTranslations(reader, nodeModules);
  for (const [lang, strings] of Object.entries(translations)) {
    if (strings.length < 50) throw new Error(`only ${strings.length} ${lang} strings found (gettext catalogs under /usr/share/locale/${lang})`);
  }
  if (prose.length < 1000 || code.length < 20) throw new Error(`too little source text (${prose.length} paragraphs, ${code.length} code files)`);
  return { prose, code, translations, stats: { files: reader.files, bytes: reader.bytes, digest: reader.digest() } };
}

export function sizeOf(file: string): number {
  return statSync(file).size;
}
