/**
 * Upload benchmark: starts `atelier serve` in a child process, streams a generated 512 MB file to
 * POST /v1/files (multipart, never held in memory on either side), and reports throughput and the
 * server's resident-memory growth (VmRSS sampled from /proc/<pid>/status every 20 ms, plus VmHWM).
 *
 *   node --import tsx bench/upload.ts [--mb 512]
 *
 * Writes bench/results/upload.json. Fails (exit 1) when RSS grows by 100 MB or more.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const root = path.join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { mb: { type: 'string', default: '512' } } });
const sizeMb = z.coerce.number().int().positive().parse(values.mb);
const totalBytes = sizeMb * 1024 * 1024;
const limitMb = 100;

async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A 1 MiB block of JSONL lines, repeated to make the file; the last block is cut to size. */
function makeBlock(): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 1024 * 1024; i++) {
    const line = `${JSON.stringify({ messages: [{ role: 'user', content: `question ${i} ${randomBytes(24).toString('hex')}` }, { role: 'assistant', content: `answer ${i}` }] })}\n`;
    lines.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(lines.join('')).subarray(0, 1024 * 1024);
}

async function startServer(dataDir: string, key: string) {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--api-key', key], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ATELIER_LOG_LEVEL: 'warn' },
  });
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const m = /listening on (http:\/\/\S+)/.exec(line);
    if (m) return { child, url: m[1] };
  }
  throw new Error('the server exited before printing its URL');
}

function upload(url: string, key: string, block: Buffer): Promise<{ status: number; body: string; sha256: string }> {
  const boundary = `----atelier-bench-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + totalBytes + tail.length },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), sha256: hash.digest('hex') }));
    });
    req.write(head);
    let sent = 0;
    const pump = () => {
      while (sent < totalBytes) {
        const chunk = block.subarray(0, Math.min(block.length, totalBytes - sent));
        sent += chunk.length;
        hash.update(chunk);
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end(tail);
    };
    pump();
  });
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-bench-'));
const key = `bench-${randomBytes(8).toString('hex')}`;
const { child, url } = await startServer(dataDir, key);
try {
  const pid = child.pid ?? 0;
  const health = await fetch(`${url}/health`);
  if (health.status !== 200) throw new Error(`/health answered ${health.status}`);
  const baseline = await memoryOf(pid);
  let peakRss = baseline.rss;
  const sampler = setInterval(() => {
    memoryOf(pid).then((m) => (peakRss = Math.max(peakRss, m.rss)), () => undefined);
  }, 20);
  const started = process.hrtime.bigint();
  const result = await upload(url, key, makeBlock());
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  const end = await memoryOf(pid);
  if (result.status !== 200) throw new Error(`upload answered ${result.status}: ${result.body.slice(0, 300)}`);
  const file = JSON.parse(result.body) as { bytes: number; signature: string };
  if (file.bytes !== totalBytes || file.signature !== result.sha256) throw new Error('the server stored different bytes');
  peakRss = Math.max(peakRss, end.rss);
  const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
  const report = {
    benchmark: 'upload',
    command: `node --import tsx bench/upload.ts --mb ${sizeMb}`,
    date: new Date().toISOString(),
    machine: `${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), ${mb(os.totalmem())} MB RAM, Node ${process.version}, SQLite`,
    bytes: totalBytes,
    seconds: Math.round(seconds * 100) / 100,
    mb_per_s: Math.round((totalBytes / 1024 / 1024 / seconds) * 10) / 10,
    rss_baseline_mb: mb(baseline.rss),
    rss_peak_mb: mb(peakRss),
    rss_growth_mb: mb(peakRss - baseline.rss),
    vmhwm_growth_mb: mb(end.hwm - baseline.hwm),
    rss_growth_limit_mb: limitMb,
    sha256_verified: true,
  };
  await writeFile(path.join(root, 'bench', 'results', 'upload.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.rss_growth_mb < limitMb && report.vmhwm_growth_mb < limitMb ? 0 : 1;
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}
