// Clients generated from the served document (issue #14): openapi-typescript turns
// GET /v1/openapi.json into `paths` types; a seed-workflow script written against them type-checks
// with tsc (and a wrong one does not), then runs against the live server. Also checks that the
// generated "Official spec coverage" section of docs/api-compatibility.md is up to date.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { compare, docPath, renderSection, withSection } from '../../scripts/api-compatibility.ts';
import { loadOfficialSpec, type OpenApiDoc } from '../helpers/official-spec.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const root = path.join(import.meta.dirname, '..', '..');
let server: TestServer;
let dir: string;
let served: OpenApiDoc;

before(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-client-'));
  served = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as OpenApiDoc;
});

after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

// The seed workflow against the generated types: upload, dry run, create, read back, list models, chat.
const seedScript = (createBody: string) => `
import type { paths } from './atelier.ts';
type Reply<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never;
type Body<P extends keyof paths, M extends 'post'> = paths[P][M] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;

const base = process.env.ATELIER_URL ?? '';
const headers = { authorization: \`Bearer \${process.env.ATELIER_KEY ?? ''}\`, 'content-type': 'application/json' };
async function post<P extends keyof paths>(p: P, body: Body<P, 'post'>, query = ''): Promise<Reply<P, 'post'>> {
  const res = await fetch(base + p + query, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(\`\${p}: \${res.status} \${await res.text()}\`);
  return (await res.json()) as Reply<P, 'post'>;
}
async function get<P extends keyof paths>(p: P, fill: (p: string) => string = (x) => x): Promise<Reply<P, 'get'>> {
  const res = await fetch(base + fill(p), { headers });
  return (await res.json()) as Reply<P, 'get'>;
}

const form = new FormData();
form.append('file', new Blob([process.env.ATELIER_DATA ?? '']), 'train.jsonl');
const uploaded = (await (await fetch(base + '/v1/files', { method: 'POST', headers: { authorization: headers.authorization }, body: form })).json()) as Reply<'/v1/files', 'post'>;
const fileId: string = uploaded.id;
const bytes: number = uploaded.bytes;
const dry = await post('/v1/fine_tuning/jobs', ${createBody.replace('FILE', 'fileId')}, '?dry_run=true');
if (dry.object !== 'job.metadata') throw new Error('expected a dry run');
const steps: number | null = dry.training_steps;
const job = await post('/v1/fine_tuning/jobs', ${createBody.replace('FILE', 'fileId')});
if (job.object !== 'job') throw new Error('expected a Mistral job');
const again = await get('/v1/fine_tuning/jobs/{job_id}', (p) => p.replace('{job_id}', job.id));
const status: string = again.status;
const models = await get('/v1/models');
const first = models.data[0];
const modelType: 'base' | 'fine-tuned' = first.type;
// Type-checked always; run only with ATELIER_CHAT (starting a serving engine takes long on a busy CI machine).
async function chatOnce(model: string): Promise<string | null> {
  const chat = await post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
  return chat.choices[0].message.content;
}
const text = process.env.ATELIER_CHAT ? await chatOnce(first.id) : null;
console.log(JSON.stringify({ fileId, bytes, steps, status, modelType, text }));
`;

describe('a client generated with openapi-typescript', () => {
  it('type-checks and runs a seed workflow against the generated types; a wrong body fails tsc', async () => {
    await writeFile(path.join(dir, 'atelier.ts'), astToString(await openapiTS(served as never)));
    const good = "{ model: 'tiny-mistral', training_files: [{ file_id: FILE, weight: 1 }], hyperparameters: { training_steps: 3 }, auto_start: false }";
    await writeFile(path.join(dir, 'seed.mts'), seedScript(good));
    await writeFile(path.join(dir, 'bad.mts'), seedScript("{ model: 'tiny-mistral', training_files: [{ file_id: FILE, weight: 'heavy' }], hyperparameters: { training_steps: 3 } }"));
    const tsc = (file: string) => execFileSync(path.join(root, 'node_modules', '.bin', 'tsc'), [
      '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node',
      '--typeRoots', path.join(root, 'node_modules', '@types'), '--allowImportingTsExtensions', path.join(dir, file),
    ], { encoding: 'utf8', stdio: 'pipe' });
    try {
      tsc('seed.mts');
    } catch (e) {
      assert.fail(`the seed script does not type-check:\n${String((e as { stdout?: string }).stdout)}`);
    }
    assert.throws(() => tsc('bad.mts'), (e: { stdout?: string }) => /bad\.mts\(\d+,\d+\): error TS2/.test(String(e.stdout)), 'a string weight is a type error');
    const data = await readFile(path.join(root, 'examples', 'quickstart', 'train.jsonl'), 'utf8');
    // Asynchronously: the server answering the script runs in this process.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(dir, 'seed.mts')], {
      cwd: root, encoding: 'utf8', env: { ...process.env, ATELIER_URL: server.url, ATELIER_KEY: server.key, ATELIER_DATA: data },
    });
    const r = JSON.parse(out.trim().split('\n').pop() as string) as { steps: number; status: string; modelType: string; text: unknown };
    assert.equal(r.steps, 3);
    assert.ok(['QUEUED', 'STARTED', 'VALIDATING', 'VALIDATED'].includes(r.status));
    assert.equal(r.modelType, 'base');
  });
});

describe('docs/api-compatibility.md', () => {
  it('lists every official operation and field the served document lacks, each with a reason, as generated', async () => {
    const official = await loadOfficialSpec();
    const gaps = compare(official, served);
    assert.deepEqual(gaps.filter((g) => !g.reason).map((g) => g.key), [], 'add a reason in scripts/api-compatibility.ts');
    const doc = await readFile(docPath, 'utf8');
    assert.equal(doc, withSection(doc, renderSection(official, gaps)), 'run: node --import tsx scripts/api-compatibility.ts');
  });
});
