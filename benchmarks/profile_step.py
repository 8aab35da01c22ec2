"""Where a CPU training step's time goes, with mrlkit's cpu_kernels off and on (torch profiler).

Usage:
    python benchmarks/profile_step.py [--data BEIR_FOLDER] [--batch-size 32] [--max-seq-length 128]

One process, all-MiniLM-L6-v2, the first ``--batch-size`` training pairs of ``--data``, MatryoshkaLoss
over MNRL, AdamW. For each setting (off, on, off, on): two warm-up steps, then one profiled step.
Prints the operators that took the most self CPU time and each setting's total; the table supports
benchmark 2's explanation of where cpu_kernels saves time. Single steps on a shared machine are noisy:
compare operators (``bernoulli_`` against ``random_`` + ``lt`` + ``where``), not only totals.
"""

from __future__ import annotations

import argparse
import os

import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="BEIR folder (default: the packaged SciFact sample)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--name", default="profile_step", help="results file name")
    p.add_argument("--overwrite", action="store_true", help="replace this command's own results file")
    a = p.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from _common import check_writable, command_line, console, table, write_result
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss
    from train_throughput import DIMS, SAMPLE

    from mrlkit.data import load_data
    from mrlkit.models import resolve_model
    from mrlkit.training.cpu_kernels import cpu_training_kernels
    from mrlkit.training.finetune import machine_info

    check_writable(a.name, a.overwrite)
    rows = load_data(a.data or SAMPLE).train.select(range(a.batch_size))
    torch.manual_seed(42)
    model = SentenceTransformer(resolve_model("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
    model.max_seq_length = a.max_seq_length
    model.train()
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), DIMS)
    features = [dict(model.preprocess(rows[c])) for c in ("anchor", "positive")]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)

    def step() -> None:
        loss([dict(f) for f in features], torch.tensor([])).backward()
        optimizer.step()
        optimizer.zero_grad()

    profiles: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for setting in ("off", "on", "off", "on"):
        with cpu_training_kernels(model, enabled=setting == "on"):
            step()
            step()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
        ops = {e.key: round(e.self_cpu_time_total / 1e3, 2) for e in prof.key_averages()}
        profiles[setting].append(ops)
    names = sorted(
        {k for runs in profiles.values() for ops in runs for k in ops},
        key=lambda k: -max(ops.get(k, 0.0) for runs in profiles.values() for ops in runs),
    )[: a.top]

    def ms(setting: str, key: str | None) -> str:
        values = [sum(ops.values()) if key is None else ops.get(key, 0.0) for ops in profiles[setting]]
        return " / ".join(f"{v:,.0f}" for v in values)

    rows_out = [[k, ms("off", k), ms("on", k)] for k in names] + [["total", ms("off", None), ms("on", None)]]
    console.print(
        table("Self CPU ms per training step (two profiled steps each)", ["operator", "off", "on"], rows_out)
    )
    write_result(
        a.name,
        {
            "total_self_cpu_ms": {s: [round(sum(o.values())) for o in runs] for s, runs in profiles.items()},
            "self_cpu_ms": {  # operators over 1 ms
                s: [{k: v for k, v in o.items() if v >= 1.0} for o in runs] for s, runs in profiles.items()
            },
            "settings": vars(a),
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=a.overwrite,
    )


if __name__ == "__main__":
    main()
