"""Probe for benchmark 2: does mrlkit's data loading leave a heap that raises the training peak?

Usage:
    python benchmarks/memory_probe.py --data ../shared/datasets/scifact [--repeats 4]
        [--arms plain,loaded,mrlkit]

Arms, each run in a fresh process, interleaved: ``plain`` (train_throughput.py's hand-written
script), ``loaded`` (the same script after loading the same rows through mrlkit's data layer, and
holding them while it trains, as mrlkit's finetune does), ``mrlkit`` (mrlkit's finetune) and
``mrlkit-mmap8`` (mrlkit's finetune with ``mmap_threshold_mb=8``). If ``loaded`` peaked like ``mrlkit``
and above ``plain``, the data layer's allocations would be the gap. Prints each arm's median peak RSS
and training seconds. The mrlkit arms run with ``cpu_kernels`` off, as when this probe was recorded, so
the trainer is the plain script's and only the data layer and the allocator differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import train_throughput as tt

ARMS = ("plain", "loaded", "mrlkit", "mrlkit-mmap8")


def run_loaded(a: argparse.Namespace, meter: tt.Meter) -> int:
    """The plain script, after mrlkit's data layer has read the same rows (kept alive while training)."""
    from mrlkit.data import load_data

    data = load_data(a.pairs)
    n = tt.run_plain(a, meter)
    del data
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(tt.SAMPLE))
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--arms", default="plain,loaded,mrlkit", help=f"comma-separated, from {','.join(ARMS)}")
    p.add_argument("--worker", choices=ARMS, help=argparse.SUPPRESS)
    tt.add_worker_arguments(p)
    p.add_argument("--name", default="memory_probe", help="results file name")
    p.add_argument("--overwrite", action="store_true", help="replace this command's own results file")
    a = p.parse_args()
    if a.worker:
        runners = {
            "plain": tt.run_plain,
            "loaded": run_loaded,
            "mrlkit": lambda a, meter: tt.run_mrlkit(a, meter, cpu_kernels=False),
            "mrlkit-mmap8": lambda a, meter: tt.run_mrlkit(a, meter, cpu_kernels=False, mmap_threshold_mb=8),
        }
        tt.worker(a, runners)
        return

    from _common import check_writable, command_line, console, table, write_result

    from mrlkit.models import resolve_model
    from mrlkit.training.finetune import machine_info

    check_writable(a.name, a.overwrite)
    arms = a.arms.split(",")
    if unknown := set(arms) - set(ARMS):  # before any data or model work
        sys.exit(f"--arms: unknown arm(s) {sorted(unknown)}; pick from {','.join(ARMS)}")
    tmp = Path(tempfile.mkdtemp(prefix="memprobe-"))
    pairs, train_rows = tt.prepare(a, tmp)
    model_path = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    runs: dict[str, list[dict]] = {arm: [] for arm in arms}
    for i in range(a.repeats):
        for arm in arms if i % 2 == 0 else arms[::-1]:
            runs[arm].append(
                tt.run_worker(__file__, arm, a, pairs, train_rows, tmp / f"r{i}-{arm}", model_path)
            )
            console.print(f"{arm}: {runs[arm][-1]}")
    rows = [
        [
            arm,
            statistics.median(r["peak_rss_mb"] for r in v),
            " ".join(f"{r['peak_rss_mb']:.0f}" for r in v),
            statistics.median(r["seconds"] for r in v),
        ]
        for arm, v in runs.items()
    ]
    console.print(
        table("Peak RSS (MB) of the training run", ["arm", "median", "each run", "median seconds"], rows)
    )
    write_result(
        a.name,
        {
            "median_peak_rss_mb": {r[0]: r[1] for r in rows},
            "median_train_seconds": {r[0]: r[3] for r in rows},
            "runs": runs,
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=a.overwrite,
    )


if __name__ == "__main__":
    main()
