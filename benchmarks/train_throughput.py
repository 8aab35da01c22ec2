"""Benchmark 2: mrlkit finetune vs a plain sentence-transformers script with identical settings.

Usage:
    python benchmarks/train_throughput.py [--data BEIR_FOLDER] [--rows 512] [--repeats 3]
        [--cpu-kernels-arm] [--torch-dropout-arm]

Both trainers run in fresh subprocesses, interleaved with the slot order rotated each repeat (plain,
mrlkit; mrlkit, plain; ...), so no arm always runs in the same slot, on the same
training rows, model, loss (MatryoshkaLoss over MultipleNegativesRankingLoss), sampler, schedule and
seed, with no evaluation during training. Speed is training examples per second between the
trainer's train-begin and train-end events; memory is the process's peak RSS at train end.
Ratios are mrlkit over plain (speed >= 1.0 and memory <= 1.0 are the targets). mrlkit runs with its
defaults (``cpu_kernels`` off since they became opt-in); ``--cpu-kernels-arm`` adds an arm with mrlkit's
CPU dropout/attention kernels on, and ``--torch-dropout-arm`` one with them explicitly off (the
``mrlkit`` arm of results recorded while the kernels were on by default).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

DIMS = [384, 256, 128, 64, 32]
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "mrlkit" / "samples" / "scifact-mini"


class Meter(TrainerCallback):
    """Wall time of training (and of each optimizer step and checkpoint save) and peak RSS at its end."""

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: D102
        self.start = time.perf_counter()
        self.begin_rss_mb = current_rss_mb()
        self.step_seconds: list[float] = []
        self.save_seconds: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: D102
        self.step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: D102
        self.step_end = time.perf_counter()
        self.step_seconds.append(self.step_end - self.step_start)

    def on_save(self, args, state, control, **kwargs):  # noqa: D102
        self.save_seconds.append(time.perf_counter() - self.step_end)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: D102
        self.seconds = time.perf_counter() - self.start
        self.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """The process's resident memory now (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def run_plain(a: argparse.Namespace, meter: Meter) -> int:
    """What a user would write by hand with sentence-transformers."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    rows = [json.loads(line) for line in open(a.train_rows, encoding="utf-8")]
    train = Dataset.from_dict(
        {"anchor": [r["anchor"] for r in rows], "positive": [r["positive"] for r in rows]}
    )
    model = SentenceTransformer(a.model_path)
    model.max_seq_length = a.max_seq_length
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), DIMS)
    args = SentenceTransformerTrainingArguments(
        output_dir=a.out,
        num_train_epochs=1,
        per_device_train_batch_size=a.batch_size,
        learning_rate=2e-5,
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        seed=42,
        data_seed=42,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        eval_strategy="no",
        save_strategy="epoch",
        save_total_limit=2,
        logging_steps=10,
        logging_first_step=True,
        report_to="none",
        dataloader_pin_memory=False,
    )
    SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=loss, callbacks=[meter]
    ).train()
    return len(train)


def run_mrlkit(a: argparse.Namespace, meter: Meter, **settings: object) -> int:
    """The same run through mrlkit's public API (``settings``: extra FinetuneConfig values)."""
    from mrlkit import FinetuneConfig, finetune

    config = FinetuneConfig.load(
        None,
        data=a.pairs,
        model=a.model_path,
        output_dir=a.out,
        dims=DIMS,
        epochs=1,
        batch_size=a.batch_size,
        learning_rate=2e-5,
        max_seq_length=a.max_seq_length,
        evaluate_base=False,
        eval_every_epoch=False,
        **settings,
    )
    result = finetune(config, callbacks=[meter])
    return int(result.report.meta["train_rows"])


RUNNERS = {
    "plain": run_plain,
    "mrlkit": run_mrlkit,
    "mrlkit-torch-dropout": lambda a, meter: run_mrlkit(a, meter, cpu_kernels=False),
    "mrlkit-cpu-kernels": lambda a, meter: run_mrlkit(a, meter, cpu_kernels=True),
}


def worker(a: argparse.Namespace, runners: dict | None = None) -> None:
    """Train once with the runner named by ``--worker`` and print its measurements as a RESULT line."""
    meter = Meter()
    n = (runners or RUNNERS)[a.worker](a, meter)
    print(
        "RESULT "
        + json.dumps(
            {
                "rows": n,
                "seconds": meter.seconds,
                "examples_per_second": n / meter.seconds,
                "peak_rss_mb": meter.peak_rss_mb,
                "train_begin_rss_mb": meter.begin_rss_mb,
                "step_seconds": [round(t, 3) for t in meter.step_seconds],
                "save_seconds": [round(t, 3) for t in meter.save_seconds],
            }
        )
    )


def paired_step_ratio(plain: list[dict], other: list[dict]) -> float:
    """Plain's over ``other``'s summed step time, each step's time the median over runs.

    Both trainers see the same batches in the same order (same seed and sampler), so step ``i`` is the
    same work in every run; medians per step drop the steps a busy machine slowed down.
    """

    def per_step(runs: list[dict]) -> list[float]:
        return [statistics.median(steps) for steps in zip(*(r["step_seconds"] for r in runs), strict=True)]

    return sum(per_step(plain)) / sum(per_step(other))


def run_worker(
    script: str, name: str, a: argparse.Namespace, pairs: Path, train_rows: Path, out: Path, model_path: str
) -> dict:
    """Run ``script --worker name`` in a fresh process; return the RESULT it prints."""
    cmd = [sys.executable, script, "--worker", name, "--pairs", str(pairs), "--train-rows", str(train_rows),
           "--out", str(out), "--model-path", model_path, "--batch-size", str(a.batch_size),
           "--max-seq-length", str(a.max_seq_length)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"{name} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def prepare(a: argparse.Namespace, tmp: Path) -> tuple[Path, Path]:
    """Write a pairs file from the BEIR folder, and the exact train rows mrlkit will use from it."""
    from mrlkit.data import load_data

    beir = load_data(a.data)
    pairs = tmp / "pairs.jsonl"
    with pairs.open("w", encoding="utf-8") as f:
        for row in beir.train.select(range(min(a.rows, len(beir.train)))):
            f.write(json.dumps({"anchor": row["anchor"], "positive": row["positive"]}) + "\n")
    data = load_data(pairs)  # the split mrlkit applies: the plain script trains on the same rows
    train_rows = tmp / "train_rows.jsonl"
    with train_rows.open("w", encoding="utf-8") as f:
        for row in data.train:
            f.write(json.dumps({"anchor": row["anchor"], "positive": row["positive"]}) + "\n")
    return pairs, train_rows


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    """The hidden arguments the parent passes to its worker processes."""
    for hidden in ("--pairs", "--train-rows", "--out", "--model-path"):
        p.add_argument(hidden, help=argparse.SUPPRESS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SAMPLE), help="BEIR folder whose train qrels give the pairs")
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--torch-dropout-arm", action="store_true", help="also run mrlkit with cpu_kernels off")
    p.add_argument("--cpu-kernels-arm", action="store_true", help="also run mrlkit with cpu_kernels on")
    p.add_argument("--worker", choices=list(RUNNERS), help=argparse.SUPPRESS)
    add_worker_arguments(p)
    p.add_argument("--name", default="train_throughput", help="results file name")
    p.add_argument("--overwrite", action="store_true", help="replace this command's own results file")
    a = p.parse_args()
    if a.worker:
        worker(a)
        return

    from _common import check_writable, command_line, console, table, write_result

    from mrlkit.models import resolve_model
    from mrlkit.training.finetune import machine_info

    check_writable(a.name, a.overwrite)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tmp = Path(tempfile.mkdtemp(prefix="throughput-"))
    pairs, train_rows = prepare(a, tmp)
    model_path = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    arms = ["plain", "mrlkit"] + (["mrlkit-torch-dropout"] if a.torch_dropout_arm else [])
    arms += ["mrlkit-cpu-kernels"] if a.cpu_kernels_arm else []
    runs: dict[str, list[dict]] = {arm: [] for arm in arms}
    order = []
    for i in range(a.repeats):  # rotate the slot order: each arm takes each position in turn
        order += arms[i % len(arms) :] + arms[: i % len(arms)]
    for i, name in enumerate(order):
        runs[name].append(
            run_worker(__file__, name, a, pairs, train_rows, tmp / f"run{i}-{name}", model_path)
        )
        console.print(f"run {i + 1}/{len(order)} {name}: {runs[name][-1]}")
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("examples_per_second", "peak_rss_mb")}
        for k, v in runs.items()
    }
    speed = med["mrlkit"]["examples_per_second"] / med["plain"]["examples_per_second"]
    memory = med["mrlkit"]["peak_rss_mb"] / med["plain"]["peak_rss_mb"]
    step_ratio = paired_step_ratio(runs["plain"], runs["mrlkit"])
    console.print(
        table(
            "Training throughput (median of interleaved runs)",
            ["trainer", "examples/s", "peak RSS MB"],
            [[k, v["examples_per_second"], v["peak_rss_mb"]] for k, v in med.items()],
        )
    )
    console.print(f"speed ratio (mrlkit/plain) {speed:.3f}   memory ratio {memory:.3f}")
    console.print(
        f"paired per-step speed ratio (the same batches, checkpoint save left out) {step_ratio:.3f}"
    )
    others = {
        arm: {
            "speed_ratio": round(v["examples_per_second"] / med["plain"]["examples_per_second"], 4),
            "memory_ratio": round(v["peak_rss_mb"] / med["plain"]["peak_rss_mb"], 4),
            "paired_step_speed_ratio": round(paired_step_ratio(runs["plain"], runs[arm]), 4),
        }
        for arm, v in med.items()
        if arm not in ("plain", "mrlkit")
    }
    for arm, r in others.items():
        console.print(
            f"{arm} over plain: speed {r['speed_ratio']:.3f}   memory {r['memory_ratio']:.3f}"
            f"   paired per-step speed {r['paired_step_speed_ratio']:.3f}"
        )
    write_result(
        a.name,
        {
            "speed_ratio": round(speed, 4),
            "memory_ratio": round(memory, 4),
            "paired_step_speed_ratio": round(step_ratio, 4),
            "other_arms": others,
            "median": med,
            "runs": runs,
            "settings": {
                k: getattr(a, k)
                for k in ("data", "rows", "batch_size", "max_seq_length", "repeats")
                + ("torch_dropout_arm", "cpu_kernels_arm")
            },
            "train_rows": runs["plain"][0]["rows"],
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=a.overwrite,
    )


if __name__ == "__main__":
    main()
