/**
 * Weights & Biases for jobs with a wandb integration: a small Python process (wandb_sink.py) gets
 * the job's metrics as JSON lines and logs them through the real wandb client. WANDB_MODE from the
 * environment is honoured (offline in tests); the integration's api_key goes to WANDB_API_KEY of
 * that process only. When wandb cannot be imported the job goes on and gets a warning event.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Settings } from '../settings/index.ts';
import { appendEvent, type JobRecord, type Store } from '../store/index.ts';
import { repoRoot, resolvePython } from '../models/index.ts';

/** What the sink needs of the worker's context (run-job's WorkerContext has it). */
type SinkContext = { store: Store; settings: Pick<Settings, 'python'> };

export type WandbSink = { log(metrics: Record<string, unknown>): void; close(): Promise<void> };

const script = fileURLToPath(new URL('./wandb_sink.py', import.meta.url));
const reply = z.object({ ok: z.boolean(), error: z.string().optional(), run_dir: z.string().optional() });

/** Starts the sink when the job has a wandb integration; null otherwise or when wandb is unavailable. */
export async function startWandbSink(ctx: SinkContext, job: JobRecord, outDir: string, config: Record<string, unknown>): Promise<WandbSink | null> {
  const w = job.integrations.find((i) => i.type === 'wandb');
  if (!w) return null;
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  if (typeof w.api_key === 'string') env.WANDB_API_KEY = w.api_key;
  const child = spawn(resolvePython(ctx.settings.python), [script], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env });
  child.stderr.resume();
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const init = { project: w.project, name: w.run_name ?? w.name ?? job.id, dir: path.join(outDir), config, mode: process.env.WANDB_MODE ?? 'online', id: job.id.replace(/-/g, '') };
  child.stdin.write(`${JSON.stringify({ init })}\n`);
  const first = await new Promise<string>((resolve) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('close', () => resolve('{"ok":false,"error":"the wandb sink exited before initialising"}'));
  });
  const parsed = reply.safeParse(JSON.parse(first));
  if (!parsed.success || !parsed.data.ok) {
    const why = parsed.success ? parsed.data.error : 'unreadable reply';
    await appendEvent(ctx.store.db, job.id, { name: 'message', level: 'warn', data: { integration: 'wandb', error: why ?? null }, message: `W&B logging disabled: ${why}` });
    child.stdin.end();
    await exited;
    return null;
  }
  await appendEvent(ctx.store.db, job.id, { name: 'message', level: 'info', data: { integration: 'wandb', run_dir: parsed.data.run_dir ?? null }, message: `W&B run logging to ${parsed.data.run_dir}` });
  return {
    log: (metrics) => {
      if (child.stdin.writable) child.stdin.write(`${JSON.stringify(metrics)}\n`);
    },
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
