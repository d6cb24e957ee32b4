"""GPU training throughput: Atelier's trainer vs Hugging Face transformers + PEFT on a Mistral-7B-shaped
model (dim 4096, 32 layers, 32 heads, 8 kv heads, hidden 14336, vocab 32768; random bf16 weights drawn
on the GPU from a fixed seed, identical on both sides), LoRA r16 on every linear projection, packed
4096-token rows of several documents each, every position trained.

    python3 bench/gpu_train.py --out bench/results/gpu-train.json    # on the GPU machine, < 10 minutes
    python3 bench/gpu_train.py --smoke --device cpu                   # tiny shape, seconds, prints JSON only

Each side runs in its own subprocess (clean memory peaks): `peak` (bf16 matmul TFLOP/s with a large
torch.matmul), `atelier` (trainer/model.py, lora.py, speed.py and train.batch_loss_sum: the real
training path, FlexAttention per document, compiled blocks, fused AdamW, no activation checkpointing),
`hf` (MistralForCausalLM + PEFT, flash-attention-2 when flash_attn is installed, else SDPA; both
attend per document given restarting position_ids in current transformers) and `atelier_ckpt` (Atelier with every block
checkpointed: the low-memory setting). Each training side does warm-up steps, then timed steps with
the same batches, and reports trained tokens/s, MFU (4N + 6·s·d·L FLOPs per trained token over the
measured matmul peak), peak memory, and loss and gradient norm per step. The result file is rewritten
after each side, so a run cut short keeps what it measured.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FULL_SHAPE = {"dim": 4096, "n_layers": 32, "head_dim": 128, "hidden_dim": 14336, "n_heads": 32, "n_kv_heads": 8,
              "vocab_size": 32768, "norm_eps": 1e-5, "rope_theta": 1000000.0}
SMOKE_SHAPE = {"dim": 64, "n_layers": 2, "head_dim": 16, "hidden_dim": 128, "n_heads": 4, "n_kv_heads": 2,
               "vocab_size": 512, "norm_eps": 1e-5, "rope_theta": 1000000.0}
FULL_RUN = {"batch": 1, "seq_len": 4096, "warmup": 3, "steps": 10, "doc_min": 256, "doc_max": 2048}
SMOKE_RUN = {"batch": 2, "seq_len": 128, "warmup": 1, "steps": 3, "doc_min": 16, "doc_max": 64}
LORA_RANK, LORA_SCALING = 16, 2.0
HF_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GIB = 1 << 30


# ---- shared by every side -------------------------------------------------------------------------

def model_args(shape: dict):
    from trainer.model import ModelArgs
    return ModelArgs(**shape)


def random_weights(args, device: torch.device, dtype: torch.dtype, seed: int):
    """(native key, tensor) pairs of a random Mistral model, drawn on `device` directly in `dtype`, one
    seeded generator per tensor so both sides get the same bits whatever else they allocate."""
    dim, hd, hidden = args.dim, args.head_dim, args.hidden_dim
    q_out, kv_out = args.n_heads * hd, args.n_kv_heads * hd
    shapes = [("tok_embeddings.weight", (args.vocab_size, dim), 1.0)]
    for i in range(args.n_layers):
        p = f"layers.{i}."
        shapes += [(p + "attention.wq.weight", (q_out, dim), dim ** -0.5),
                   (p + "attention.wk.weight", (kv_out, dim), dim ** -0.5),
                   (p + "attention.wv.weight", (kv_out, dim), dim ** -0.5),
                   (p + "attention.wo.weight", (dim, q_out), q_out ** -0.5),
                   (p + "feed_forward.w1.weight", (hidden, dim), dim ** -0.5),
                   (p + "feed_forward.w2.weight", (dim, hidden), hidden ** -0.5),
                   (p + "feed_forward.w3.weight", (hidden, dim), dim ** -0.5),
                   (p + "attention_norm.weight", (dim,), None), (p + "ffn_norm.weight", (dim,), None)]
    shapes += [("norm.weight", (dim,), None), ("output.weight", (args.vocab_size, dim), dim ** -0.5)]
    for k, (key, shape, std) in enumerate(shapes):
        if std is None:
            yield key, torch.ones(shape, device=device, dtype=dtype)
            continue
        g = torch.Generator(device=device).manual_seed(seed * 100_003 + k)
        yield key, torch.randn(shape, device=device, dtype=dtype, generator=g).mul_(std)


def make_batches(run: dict, vocab: int, n: int, seed: int = 0):
    """`n` packed batches (trainer.data.Batch) of documents with lengths in [doc_min, doc_max], the last
    one cut to fill the row, every position trained. Tokens follow a Zipf law over 2,000 ids so the
    loss can fall within a few steps (a random model has no other signal to learn)."""
    from trainer.data import Batch
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(5, vocab), size=min(2000, vocab - 5), replace=False)
    probs = 1.0 / np.arange(1, len(ids) + 1)
    probs /= probs.sum()
    out = []
    for _ in range(n):
        rows = {k: [] for k in ("tokens", "targets", "positions", "doc_ids")}
        for _ in range(run["batch"]):
            cols = {k: [] for k in rows}
            used, doc = 0, 0
            while used < run["seq_len"]:
                length = min(int(rng.integers(run["doc_min"], run["doc_max"] + 1)), run["seq_len"] - used)
                seq = np.concatenate([[1], rng.choice(ids, size=length, p=probs)])  # BOS + length tokens
                cols["tokens"].append(seq[:-1])
                cols["targets"].append(seq[1:])
                cols["positions"].append(np.arange(length))
                cols["doc_ids"].append(np.full(length, doc))
                used, doc = used + length, doc + 1
            for k in rows:
                rows[k].append(np.concatenate(cols[k]))
        t = {k: torch.from_numpy(np.stack(v).astype(np.int64)) for k, v in rows.items()}
        out.append(Batch(t["tokens"], t["targets"], torch.ones_like(t["tokens"], dtype=torch.bool),
                         t["positions"], t["doc_ids"]))
    return out


def flops_per_token(shape: dict, seq_len: int) -> float:
    """4N + 6·s·d·L: N = parameters in matrix multiplies (block projections + output head)."""
    d, hd, L = shape["dim"], shape["head_dim"], shape["n_layers"]
    per_layer = 2 * d * shape["n_heads"] * hd + 2 * d * shape["n_kv_heads"] * hd + 3 * d * shape["hidden_dim"]
    n = L * per_layer + shape["vocab_size"] * d
    return 4.0 * n + 6.0 * seq_len * d * L


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / GIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # CPU: peak RSS of the process


def train_steps(device: torch.device, batches, step_fn) -> list[dict]:
    """Run `step_fn(batch) -> (loss, grad_norm)` on each batch, timing each step to completion."""
    out = []
    for b in batches:
        sync(device)
        t0 = time.perf_counter()
        loss, norm = step_fn(b)
        sync(device)
        out.append({"s": time.perf_counter() - t0, "loss": loss, "grad_norm": norm,
                    "trained": int(b.mask.sum())})
    return out


def summarise(steps: list[dict], warmup: int, device: torch.device, extra: dict) -> dict:
    timed = steps[warmup:]
    return {"tokens_per_s": sum(s["trained"] for s in timed) / sum(s["s"] for s in timed),
            "peak_gib": peak_gib(device), "losses": [s["loss"] for s in steps],
            "grad_norms": [s["grad_norm"] for s in steps], "step_s": [round(s["s"], 4) for s in steps], **extra}


# ---- sides ----------------------------------------------------------------------------------------

def side_peak(spec: dict, device: torch.device) -> dict:
    """Dense matmul throughput in the training dtype: the MFU denominator, measured on this device."""
    n, iters = (8192, 100) if device.type == "cuda" else (512, 5)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync(device)
    return {"matmul_tflops": 2 * n ** 3 * iters / (time.perf_counter() - t0) / 1e12, "n": n, "dtype": str(dtype)}


def side_atelier(spec: dict, device: torch.device) -> dict:
    from trainer.lora import LoRAConfig, apply_lora
    from trainer.model import Transformer
    from trainer.speed import SpeedOptions, apply_speed, optimizer_kwargs, resolve_speed
    from trainer.train import ADAM_BETAS, batch_loss_sum
    t0 = time.perf_counter()
    args, dtype = model_args(spec["shape"]), spec_dtype(device)
    with torch.device("meta"):
        model = Transformer(args)
    model.load_state_dict(dict(random_weights(args, device, dtype, spec["seed"])), assign=True)
    apply_lora(model, LoRAConfig(rank=LORA_RANK, scaling=LORA_SCALING), device)
    speed = resolve_speed(SpeedOptions(spec["attention"], spec["compile"], spec["checkpoint_layers"]), device, args.n_layers)
    apply_speed(model, speed)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], betas=ADAM_BETAS, weight_decay=0.0, **optimizer_kwargs(device))
    setup_s = time.perf_counter() - t0

    def step(b):
        b = b.to(device)
        loss = batch_loss_sum(model, b) / b.mask.sum()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item(), float(norm)

    steps = train_steps(device, make_batches(spec["run"], args.vocab_size, spec["run"]["warmup"] + spec["run"]["steps"]), step)
    return summarise(steps, spec["run"]["warmup"], device, {
        "setup_s": round(setup_s, 2), "attention": speed.attention, "compile": speed.compile,
        "checkpoint_layers": speed.checkpoint_layers, "fused_adamw": bool(optimizer_kwargs(device))})


def hf_attention(requested: str, device: torch.device) -> str:
    if requested != "auto":
        return requested
    return "flash_attention_2" if device.type == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"


def hf_packs_documents(attn: str) -> bool:
    """Whether HF attends per document given restarting position_ids: flash-attention-2 always (varlen),
    any backend in transformers versions that derive a packed-sequence mask from position_ids."""
    import transformers.masking_utils as mu
    return attn == "flash_attention_2" or hasattr(mu, "find_packed_sequence_indices")


def side_hf(spec: dict, device: torch.device) -> dict:
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM
    from trainer.weights import hf_name, permute_rows_for_hf, rope_heads
    t0 = time.perf_counter()
    args, dtype = model_args(spec["shape"]), spec_dtype(device)
    attn = hf_attention(spec["hf_attention"], device)
    config = MistralConfig(hidden_size=args.dim, intermediate_size=args.hidden_dim, num_hidden_layers=args.n_layers,
                           num_attention_heads=args.n_heads, num_key_value_heads=args.n_kv_heads, head_dim=args.head_dim,
                           vocab_size=args.vocab_size, rms_norm_eps=args.norm_eps, rope_theta=args.rope_theta,
                           sliding_window=None, tie_word_embeddings=False, attn_implementation=attn, use_cache=False)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the training dtype, on the device: no fp32 or host copy
    try:
        with torch.device(device):
            model = MistralForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for key, t in random_weights(args, device, dtype, spec["seed"]):
            heads = rope_heads(key, args)
            named[hf_name(key)].copy_(permute_rows_for_hf(t, heads) if heads else t)
    model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=int(LORA_SCALING * LORA_RANK), lora_dropout=0.0,
                                             target_modules=HF_TARGETS))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], betas=(0.9, 0.95), weight_decay=0.0,
                            **({"fused": True} if device.type == "cuda" else {}))
    setup_s = time.perf_counter() - t0

    def step(b):
        b = b.to(device)
        # position_ids restart per document (same RoPE as Atelier); HF also uses them to attend per document
        # (varlen flash-attention-2, or a packed-sequence mask for SDPA; see hf_packs_documents). The loss is HF's
        # ForCausalLMLoss on already-shifted labels: fp32 cross-entropy over the full logits.
        logits = model(input_ids=b.tokens, position_ids=b.positions, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), b.targets.flatten())
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item(), float(norm)

    batches = make_batches(spec["run"], args.vocab_size, spec["run"]["warmup"] + spec["run"]["steps"])
    checkpointing = False
    try:
        steps = train_steps(device, batches, step)
    except torch.cuda.OutOfMemoryError:
        # HF's own answer to memory: gradient checkpointing; note it, and measure that
        opt.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        checkpointing = True
        steps = train_steps(device, batches, step)
    import peft
    return summarise(steps, spec["run"]["warmup"], device, {
        "setup_s": round(setup_s, 2), "attention": attn, "per_document_attention": hf_packs_documents(attn),
        "gradient_checkpointing": checkpointing, "transformers": transformers.__version__, "peft": peft.__version__})


def spec_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


SIDES = {"peak": side_peak, "atelier": side_atelier, "atelier_ckpt": side_atelier, "hf": side_hf}


# ---- parent ---------------------------------------------------------------------------------------

def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name} ({p.total_memory / GIB:.0f} GiB)"
    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()}"


def run_side(side: str, spec: dict, timeout: float) -> dict:
    """One side in a fresh interpreter; its last stdout line is its JSON result."""
    try:
        p = subprocess.run([sys.executable, __file__, "--side", side, "--spec", json.dumps(spec)],
                           capture_output=True, text=True, timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-2000:]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def result_of(res: dict, spec: dict, device: str, smoke: bool) -> dict:
    """The result file: headline figures, then per-side details."""
    peak = res.get("peak", {}).get("matmul_tflops")
    fpt = flops_per_token(spec["shape"], spec["run"]["seq_len"])
    mfu = lambda side: (round(res[side]["tokens_per_s"] * fpt / (peak * 1e12), 4)
                        if peak and "tokens_per_s" in res.get(side, {}) else None)
    fig = lambda side, key, nd=1: round(res[side][key], nd) if key in res.get(side, {}) else None
    at, hf = fig("atelier", "tokens_per_s"), fig("hf", "tokens_per_s")
    out = {"device": device, "smoke": smoke,
           "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "atelier_tokens_per_s": at, "hf_peft_tokens_per_s": hf,
           "speedup": round(at / hf, 2) if at and hf else None,
           "atelier_peak_gib": fig("atelier", "peak_gib", 2), "hf_peak_gib": fig("hf", "peak_gib", 2),
           "mfu": mfu("atelier"), "hf_mfu": mfu("hf"),
           "atelier_checkpointed": ({"tokens_per_s": fig("atelier_ckpt", "tokens_per_s"),
                                     "peak_gib": fig("atelier_ckpt", "peak_gib", 2), "mfu": mfu("atelier_ckpt")}
                                    if "atelier_ckpt" in res else None),
           "matmul_peak_tflops": round(peak, 1) if peak else None, "flops_per_token": fpt,
           "settings": {**spec["shape"], **spec["run"], "lora_rank": LORA_RANK, "lora_scaling": LORA_SCALING,
                        "lora_targets": "all linear (wq wk wv wo w1 w2 w3)", "lr": spec["lr"], "seed": spec["seed"],
                        "trained": "every position (tokens/s = trained tokens/s)",
                        "dtype": "bf16 weights and activations, fp32 LoRA weights and AdamW state" if not smoke else "fp32",
                        "atelier_attention": spec["attention"], "atelier_compile": spec["compile"],
                        "hf_attention": spec["hf_attention"], "torch": torch.__version__},
           "atelier": res.get("atelier"), "hf_peft": res.get("hf"), "atelier_ckpt": res.get("atelier_ckpt")}
    if smoke:
        out["note"] = "smoke run on a tiny shape: checks the benchmark end to end, not a performance figure"
    return out


def write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="result file (default bench/results/gpu-train.json; a smoke run writes only where told)")
    parser.add_argument("--smoke", action="store_true", help="tiny shape and few steps: checks the benchmark end to end")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke only)")
    parser.add_argument("--sides", default="peak,atelier,hf,atelier_ckpt", help="comma list of peak, atelier, hf, atelier_ckpt")
    parser.add_argument("--steps", type=int, help="timed steps (default 10; smoke 3)")
    parser.add_argument("--warmup", type=int, help="warm-up steps, not timed (default 3; smoke 1)")
    parser.add_argument("--batch", type=int, help="rows per step (default 1; smoke 2)")
    parser.add_argument("--seq-len", type=int, help="positions per row (default 4096; smoke 128)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--attention", default="auto", choices=["auto", "flex", "sdpa"], help="Atelier's attention")
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"], help="Atelier's torch.compile of blocks")
    parser.add_argument("--hf-attention", default="auto", choices=["auto", "sdpa", "flash_attention_2", "eager"])
    parser.add_argument("--budget-s", type=float, default=560, help="wall-clock budget for all sides together")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    a = parser.parse_args()

    if a.side:  # child: one side, one JSON line
        spec = json.loads(a.spec)
        device = torch.device(spec["device"])
        torch.manual_seed(spec["seed"])
        if device.type == "cpu":
            torch.set_num_threads(1)  # smoke shapes: threads only contend (the CPU machines are shared)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
        result = SIDES[a.side](spec, device)
        print(json.dumps(result))
        return

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: run on the GPU machine, or use --smoke --device cpu")
    if a.device == "cpu" and not a.smoke:
        sys.exit("the full 7B shape is for the GPU; on CPU use --smoke")
    run = dict(SMOKE_RUN if a.smoke else FULL_RUN)
    for key, value in (("steps", a.steps), ("warmup", a.warmup), ("batch", a.batch), ("seq_len", a.seq_len)):
        if value is not None:
            run[key] = value
    spec = {"device": a.device, "shape": SMOKE_SHAPE if a.smoke else FULL_SHAPE, "run": run, "lr": a.lr, "seed": 0,
            "attention": a.attention, "compile": {"auto": None, "on": True, "off": False}[a.compile],
            "checkpoint_layers": 0, "hf_attention": a.hf_attention}
    out = Path(a.out) if a.out else (None if a.smoke else REPO / "bench" / "results" / "gpu-train.json")
    device = device_name(torch.device(a.device))
    deadline = time.monotonic() + a.budget_s
    res: dict = {}
    for side in a.sides.split(","):
        if side not in SIDES:
            sys.exit(f"unknown side {side!r}; sides: {', '.join(SIDES)}")
        side_spec = {**spec, "checkpoint_layers": spec["shape"]["n_layers"]} if side == "atelier_ckpt" else spec
        t0 = time.monotonic()
        res[side] = run_side(side, side_spec, deadline - time.monotonic())
        print(f"{side}: {time.monotonic() - t0:.0f} s {json.dumps({k: v for k, v in res[side].items() if k not in ('losses', 'grad_norms', 'step_s')})}",
              file=sys.stderr, flush=True)
        if out is not None:
            write_atomic(out, result_of(res, spec, device, a.smoke))
    result = result_of(res, spec, device, a.smoke)
    print(json.dumps(result))
    if any("error" in r for r in res.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
