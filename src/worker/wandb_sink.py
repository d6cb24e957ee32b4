"""W&B sink for one job: reads JSON lines on stdin ({"init": {...}} first, then metrics dicts with a
"step") and logs them through the real wandb client; finishes the run on EOF. Writes one line
{"ok": true, "run_dir": ...} or {"ok": false, "error": ...} on stdout once wandb is initialised."""
import json
import sys


def main() -> int:
    first = json.loads(sys.stdin.readline() or "{}")
    init = first.get("init", {})
    try:
        import wandb
    except Exception as e:  # the client or one of its dependencies is missing
        print(json.dumps({"ok": False, "error": f"import wandb failed: {type(e).__name__}: {e}"}), flush=True)
        return 0
    run = wandb.init(project=init["project"], name=init.get("name"), dir=init["dir"], config=init.get("config"),
                     mode=init.get("mode", "online"), id=init.get("id"), resume="allow")
    print(json.dumps({"ok": True, "run_dir": run.dir}), flush=True)
    for line in sys.stdin:
        metrics = json.loads(line)
        step = metrics.pop("step", None)
        run.log({f"train/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
