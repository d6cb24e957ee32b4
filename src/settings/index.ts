/**
 * Every setting Atelier reads, in one place: its environment variable, its default (Mistral's value
 * where Mistral has one) and what it means. CLI flags override the environment, which overrides
 * the defaults. docs/configuration.md is generated from `settingDocs` (and tested against it).
 *
 * To add a setting: add one entry to `definitions`; the type of `Settings` follows.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const MB = 1024 * 1024;

type Definition<T extends z.ZodType> = {
  env: string;
  schema: T;
  doc: string;
};

function def<T extends z.ZodType>(env: string, schema: T, doc: string): Definition<T> {
  return { env, schema, doc };
}

const int = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
const num = (fallback: number) => z.coerce.number().nonnegative().default(fallback);
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean));

export const definitions = {
  // Server
  host: def('ATELIER_HOST', z.string().default('127.0.0.1'), 'Address the HTTP server listens on.'),
  port: def('ATELIER_PORT', int(8000), 'Port the HTTP server listens on.'),
  dataDir: def('ATELIER_DATA_DIR', z.string().default('.atelier'), 'Folder for the SQLite database, uploaded files, token shards, checkpoints and adapters.'),
  blobDir: def('ATELIER_BLOB_DIR', z.string().default(''), 'Folder of the uploaded files\' bytes; empty means <data-dir>/files. The API host and every worker must see the same one (docs/deploy.md).'),
  databaseUrl: def('ATELIER_DATABASE_URL', z.string().default(''), 'postgres://… to use PostgreSQL; empty means SQLite inside the data dir.'),
  apiKeys: def('ATELIER_API_KEYS', list, 'Comma-separated API keys accepted in addition to those created with `atelier keys create`; they belong to the default workspace.'),
  logLevel: def('ATELIER_LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'), 'Server log level (JSON lines on stderr); info also logs every request.'),
  signingSecret: def('ATELIER_SIGNING_SECRET', z.string().default(''), 'Secret that signs file download URLs; empty means a random one kept in <data-dir>/signing-secret (give every server the same one when several serve the same data).'),
  maxPathParamLength: def('ATELIER_MAX_PATH_PARAM_LENGTH', int(100), 'Longest id accepted in a URL path (file, job and model ids are a few dozen characters); longer gets 414.'),
  publicUrl: def('ATELIER_PUBLIC_URL', z.string().default(''), 'Base URL put into signed file URLs; empty means http://<host>:<port>.'),

  // Files (Mistral's limits)
  maxFileBytes: def('ATELIER_MAX_FILE_BYTES', int(512 * MB), 'Largest upload accepted (Mistral: 512 MB); larger uploads get 413 and leave nothing behind.'),
  maxValidationFileBytes: def('ATELIER_MAX_VALIDATION_FILE_BYTES', int(1 * MB), 'Largest validation file a job accepts (Mistral: 1 MB).'),
  dataMaxLineBytes: def('ATELIER_DATA_MAX_LINE_BYTES', int(32 * MB), 'Longest dataset line accepted (bytes); longer lines are reported as line_too_long without being held in memory. Mistral publishes no per-line limit.'),
  dataMinLines: def('ATELIER_DATA_MIN_LINES', int(1), 'Fewest lines a dataset file must have. mistral-finetune has an unused check of 10 lines; Atelier only rejects empty files by default.'),
  dataMaxErrorsKept: def('ATELIER_DATA_MAX_ERRORS_KEPT', int(1000), 'Most dataset errors stored per file report; all errors are still counted.'),
  dataMaxImageBytes: def('ATELIER_DATA_MAX_IMAGE_BYTES', int(10 * MB), 'Largest decoded image in a dataset line (Mistral vision: 10 MB per image).'),
  dataMaxImageSide: def('ATELIER_DATA_MAX_IMAGE_SIDE', int(10000), 'Largest width or height of an image in a dataset line, in pixels (Mistral vision refuses images above 10000x10000).'),
  imageUrlFetch: def('ATELIER_IMAGE_URL_FETCH', z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'), 'Fetch http(s) image URLs (src/data/image-fetch.ts: public addresses only, every DNS answer checked, no redirects, ATELIER_IMAGE_FETCH_TIMEOUT_MS and ATELIER_DATA_MAX_IMAGE_BYTES). Off: only data: URLs are accepted (SSRF risk; remote images do not reproduce).'),
  imageFetchTimeoutMs: def('ATELIER_IMAGE_FETCH_TIMEOUT_MS', int(10000), 'Longest time one image download may take when ATELIER_IMAGE_URL_FETCH is on (milliseconds).'),
  dataMaxImagesPerSample: def('ATELIER_DATA_MAX_IMAGES_PER_SAMPLE', int(8), 'Most images in one dataset sample (Mistral vision: 8 per request).'),
  dataThreads: def('ATELIER_DATA_THREADS', int(1), 'Threads `atelier data validate` and `stats` check a file of 8 MB or more on: worker threads over 4 MB byte ranges, merged in line order. 0 means one per CPU core. Each worker loads its own tokenizer (+50-70 MB RSS for v3 SentencePiece, +130-170 MB for Tekken, +0.3-0.7 CPU s) and re-misses words the other threads have cached, so the default is 1: it keeps a 512 MB file under 300 MB RSS with Tekken and costs least CPU on a shared machine. On free cores with a SentencePiece tokenizer, 0 shortens large files (100 MB: +11% CPU); see docs/datasets.md.'),
  fileMaxExpiryHours: def('ATELIER_FILE_MAX_EXPIRY_HOURS', int(24 * 30), 'Longest lifetime an upload may ask for (Mistral `expiry` in hours, OpenAI `expires_after[seconds]`); longer gets 422 (OpenAI allows at most 30 days).'),
  signedUrlMaxHours: def('ATELIER_SIGNED_URL_MAX_HOURS', int(24 * 7), 'Longest lifetime of a signed download URL, in hours.'),

  // Processes
  python: def('ATELIER_PYTHON', z.string().default(''), 'Python interpreter for the trainer and the serving engines; empty means .venv/bin/python of the checkout, else python3.'),
  device: def('ATELIER_DEVICE', z.string().default('auto'), 'Device for training and serving: auto, cpu, cuda or cuda:N.'),
  modelsDir: def('ATELIER_MODELS_DIR', z.string().default(''), 'Extra folder of base models (one sub-folder per model id, Mistral or Hugging Face layout).'),
  deviceMemoryGib: def('ATELIER_DEVICE_MEMORY_GIB', num(0), 'Memory of one training device in GiB (2^30 bytes), for the memory plan at validation (docs/trainer.md): GPU memory, or host RAM when training on CPU. 0 means detect it: the smallest visible GPU\'s total by nvidia-smi when the device is cuda (or auto and a GPU is present), else this host\'s RAM. Set it on the API host when the workers run elsewhere.'),
  memoryUsableFraction: def('ATELIER_MEMORY_USABLE_FRACTION', z.coerce.number().positive().max(1).default(0.9), 'Share of a device\'s memory the memory plan lets a job\'s estimated peak use (the rest covers allocator fragmentation and what the estimate leaves out); a job whose peak exceeds it even with activation checkpointing fails validation.'),
  baseModels: def('ATELIER_BASE_MODELS', list, 'Comma-separated base models to serve besides tiny-mistral and modelsDir: Hugging Face repo ids (`mistralai/Mistral-7B-v0.1`, looked up offline in the hub cache and served under that id) or folders (starting with /, ./, ../ or ~/; served under the folder name). Also `--base-model` (repeatable) on serve and worker. See docs/models.md.'),
  hfHubCache: def('ATELIER_HF_HUB_CACHE', z.string().default(''), 'Hugging Face hub cache where repo ids of baseModels are looked up (`models--org--name/snapshots/<rev>/`, rev from refs/main); empty means $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, as huggingface_hub does.'),

  // Job requests (bounds refused at creation with the field named)
  jobMaxLearningRate: def('ATELIER_JOB_MAX_LEARNING_RATE', num(1), 'Largest learning_rate a job may ask for (OpenAI: learning_rate_multiplier × 1e-4); larger ones diverge.'),
  jobMaxEpochs: def('ATELIER_JOB_MAX_EPOCHS', num(100), 'Most epochs (OpenAI n_epochs) a job may ask for.'),
  jobMaxTrainingSteps: def('ATELIER_JOB_MAX_TRAINING_STEPS', int(100_000), 'Most training steps a job may ask for, or that its epochs may come to on its data (checked at validation).'),
  jobMaxBatchSize: def('ATELIER_JOB_MAX_BATCH_SIZE', int(1024), 'Largest batch_size (sequences per step) a job may ask for, in both dialects.'),

  // Serving (chat completions)
  servingMaxAdapters: def('ATELIER_SERVING_MAX_ADAPTERS', int(8), 'Adapters one serving engine keeps loaded (least recently used is unloaded first); requests for more wait until one is idle.'),
  servingMaxBatch: def('ATELIER_SERVING_MAX_BATCH', int(32), 'Sequences one serving engine decodes together in one step (its KV-cache rows); more wait for a free row.'),
  servingMaxSeqLen: def('ATELIER_SERVING_MAX_SEQ_LEN', int(4096), 'Longest prompt + completion a serving engine holds per sequence (capped by the model\'s own context length).'),
  chatMaxChoices: def('ATELIER_CHAT_MAX_CHOICES', int(16), 'Most choices (`n`) one chat completion may ask for; each takes a row of the engine\'s batch.'),
  chatMaxSchemaDepth: def('ATELIER_CHAT_MAX_SCHEMA_DEPTH', int(32), 'Deepest nesting of tool parameters or a response_format JSON schema accepted in a chat request.'),
  chatMaxImages: def('ATELIER_CHAT_MAX_IMAGES', int(8), 'Most images one chat completion request may carry (Mistral vision: 8 per request); more answer 400.'),
  chatMaxImageBytes: def('ATELIER_CHAT_MAX_IMAGE_BYTES', int(10 * MB), 'Largest decoded image in a chat completion request (Mistral vision: 10 MB per image); larger answer 400.'),
  servingThreads: def('ATELIER_SERVING_THREADS', int(0), 'CPU threads of each serving engine (PyTorch intra-op); 0 means PyTorch\'s default.'),

  // Estimates
  pricePerGpuHour: def('ATELIER_PRICE_PER_GPU_HOUR', num(2), 'Price of one device-hour, used for the cost estimate in job metadata.'),
  currency: def('ATELIER_CURRENCY', z.string().default('USD'), 'Currency of the cost estimate.'),

  // Workers (src/worker)
  workerHeartbeatMs: def('ATELIER_WORKER_HEARTBEAT_MS', int(2000), 'How often a worker running a job touches its heartbeat (milliseconds).'),
  workerStaleMs: def('ATELIER_WORKER_STALE_MS', int(30000), 'A running job whose heartbeat is older than this (milliseconds) is taken over by another worker and resumed from its last checkpoint.'),
  workerPollMs: def('ATELIER_WORKER_POLL_MS', int(1000), 'How long an idle worker waits between looks for a job to claim (milliseconds).'),
  trainProcesses: def('ATELIER_TRAIN_PROCESSES', int(0), 'Trainer ranks (processes) per job (flag `--train-processes` on `atelier serve` and `atelier worker`), launched with torchrun when more than 1: on GPUs one per device, at most the visible devices; on CPU that many gloo ranks (for testing). 0 means every visible GPU, or 1 on CPU. A worker only claims jobs needing at most this many devices; see docs/trainer.md, "Several GPUs".'),
  trainParallel: def('ATELIER_TRAIN_PARALLEL', z.enum(['ddp', 'fsdp']).default('ddp'), 'How ranks share a job: ddp (each rank holds the whole base; adapter gradients all-reduced) or fsdp (FSDP2 shards the frozen base over the ranks, for a base that does not fit one device).'),
  trainCollectiveTimeoutS: def('ATELIER_TRAIN_COLLECTIVE_TIMEOUT_S', z.coerce.number().positive().default(600), 'Longest a rank waits in one collective (all-reduce, all-gather) for the others, in seconds; past it the rank fails, so a dead rank ends the run (then retried from its last checkpoint) instead of hanging. Must exceed the longest evaluation plus checkpoint write, which rank 0 does while the others wait.'),
  trainStopGraceS: def('ATELIER_TRAIN_STOP_GRACE_S', z.coerce.number().positive().default(300), 'After a stop (cancel, worker shutdown) the trainer has this long, in seconds, to checkpoint and exit before every one of its processes is killed (SIGKILL to its process group; torchrun\'s --shutdown-timeout).'),
  trainMaxRetries: def('ATELIER_TRAIN_MAX_RETRIES', int(2), 'How many times a trainer that dies by a signal (e.g. the out-of-memory killer) or crashes is restarted from its last checkpoint before the job is FAILED; a config error is never retried.'),

  // Crash recovery (src/store/orphans.ts)
  orphanGraceMs: def('ATELIER_ORPHAN_GRACE_MS', int(15 * 60 * 1000), 'Upload temp files and blobs that no file row owns are removed at start-up and then periodically once they are older than this (milliseconds), so another live server\'s upload in flight is never touched. On SQLite the start-up sweep removes them all (one server owns the data dir).'),

  // Metrics (docs/metrics.md)
  jobMetricsMaxPoints: def('ATELIER_JOB_METRICS_MAX_POINTS', z.coerce.number().int().min(16).default(10000), 'Most metrics rows kept per job (one per optimizer step); past it the history keeps every 2nd, 4th, … step plus every evaluation and the last step, and metrics events are thinned alike.'),
  jobTensorboard: def('ATELIER_JOB_TENSORBOARD', z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'), 'Write TensorBoard event files per job to <data-dir>/jobs/<job-id>/tensorboard (train and valid scalars per step).'),

  // Exports and imports (docs/export.md)
  exportShardBytes: def('ATELIER_EXPORT_SHARD_BYTES', int(2048 * MB), 'Largest safetensors shard of a merged Hugging Face export (bytes); the exporter holds about one tensor in memory whatever this is.'),
  exportMaxCached: def('ATELIER_EXPORT_MAX_CACHED', int(4), 'Exports kept on disk per model (under <data-dir>/exports) so a repeated download is not rebuilt; the oldest beyond this are deleted.'),
  importMaxBytes: def('ATELIER_IMPORT_MAX_BYTES', int(4096 * MB), 'Largest adapter tar accepted by POST /v1/fine_tuning/models/import; larger uploads get 413.'),
} as const;

type Definitions = typeof definitions;
export type Settings = { [K in keyof Definitions]: z.output<Definitions[K]['schema']> };
export type SettingName = keyof Definitions;

/** Reads settings from an environment plus explicit overrides (CLI flags); throws on bad values. */
export function loadSettings(
  overrides: Partial<Record<SettingName, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, d] of Object.entries(definitions) as [SettingName, Definition<z.ZodType>][]) {
    const raw = overrides[name] ?? env[d.env];
    const parsed = d.schema.safeParse(raw === '' && name !== 'apiKeys' ? undefined : raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${d.env}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (problems.length) throw new Error(`invalid settings:\n  ${problems.join('\n  ')}`);
  out.dataDir = path.resolve(String(out.dataDir));
  out.hfHubCache = path.resolve(String(out.hfHubCache) || defaultHubCache(env));
  return out as Settings;
}

/** The hub cache huggingface_hub uses: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME (~/.cache)/huggingface/hub. */
function defaultHubCache(env: NodeJS.ProcessEnv): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

/** One row per setting, for docs/configuration.md and `atelier serve --help`. */
export function settingDocs(): { name: string; env: string; default: string; doc: string }[] {
  return Object.entries(definitions).map(([name, d]) => {
    const parsed = (d.schema as z.ZodType).safeParse(undefined);
    return {
      name,
      env: d.env,
      default: parsed.success ? JSON.stringify(parsed.data) : '',
      doc: d.doc,
    };
  });
}
