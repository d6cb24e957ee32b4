"""The seed workflow through OpenAI's Python SDK (issue #14), run by openai-python.test.ts against a
live server: upload, create a fine-tuning job, wait for it, chat with the fine-tuned model, list
its events, delete it. Prints one JSON line of what it saw; exits non-zero on any failure.

    ATELIER_URL=http://127.0.0.1:PORT ATELIER_KEY=... python test/e2e/openai_seed.py train.jsonl
"""
import json
import os
import sys
import time

from openai import OpenAI


def main(train_path):
    client = OpenAI(base_url=os.environ["ATELIER_URL"] + "/v1", api_key=os.environ["ATELIER_KEY"], max_retries=0)
    with open(train_path, "rb") as f:
        uploaded = client.files.create(file=("train.jsonl", f), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="tiny-mistral", training_file=uploaded.id, suffix="py",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "learning_rate_multiplier": 10}}},
    )
    deadline = time.time() + float(os.environ.get("ATELIER_PATIENCE_S", "600"))
    while job.status not in ("succeeded", "failed", "cancelled"):
        if time.time() > deadline:
            raise SystemExit(f"job {job.id} still {job.status}")
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded":
        raise SystemExit(f"job {job.status}: {job.error}")
    events = client.fine_tuning.jobs.list_events(job.id, limit=100)
    reply = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "Hello"}], temperature=0, max_completion_tokens=4,
    )
    deleted = client.models.delete(job.fine_tuned_model)
    print(json.dumps({
        "file_status": client.files.retrieve(uploaded.id).status, "job_status": job.status, "n_epochs": job.hyperparameters.n_epochs,
        "model": job.fine_tuned_model, "events": len(events.data), "reply_model": reply.model,
        "content": reply.choices[0].message.content, "completion_tokens": reply.usage.completion_tokens, "deleted": deleted.deleted,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
