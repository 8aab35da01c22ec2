"""Benchmark 1 over seeds: mean, spread and targets of several `finetune_scifact.py` results files.

One SciFact run on this CPU moves by about a point of nDCG@10 at 32 dims with the seed (the dev split,
the batch order, dropout), so a single run can meet or miss the 32-dim target by chance. This script
reads runs of the same recipe and reports each run's targets, the mean and sample standard deviation
of tuned nDCG@10 at every dim, and the targets on the mean scores.

Usage:
    python benchmarks/seed_summary.py benchmarks/results/finetune_scifact_adaptor_orth.json \\
        benchmarks/results/finetune_scifact_seed43_torch_dropout.json [...] [--name finetune_scifact_seeds]

It refuses files whose recipes differ in anything but the seed, the output folder, `--resume` and
the dropout implementation (`--no-cpu-kernels`), and says which setting differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from finetune_scifact import DIMS, target_checks

#: Settings that may differ between the runs being summarised.
FREE = {"seed", "output_dir", "resume", "no_cpu_kernels", "name", "overwrite"}
#: Flags added after some runs were recorded, with the value those runs had in effect.
ADDED_LATER = {"adaptor_distill": 0.0, "seed": 42, "no_cpu_kernels": True}


def settings_of(run: dict[str, Any]) -> dict[str, Any]:
    """A run's settings, with the flags it predates at the value they had then.

    Runs recorded after the kernels became opt-in store ``cpu_kernels``; it is read as the older
    ``no_cpu_kernels`` so that both kinds of file compare.
    """
    settings = {**ADDED_LATER, **run["settings"]}
    if "cpu_kernels" in settings:
        settings["no_cpu_kernels"] = not settings.pop("cpu_kernels")
    return settings


def recipe_of(run: dict[str, Any]) -> dict[str, Any]:
    """A run's settings without those that may differ between the runs summarised."""
    return {k: v for k, v in settings_of(run).items() if k not in FREE}


def label(run: dict[str, Any]) -> str:
    """Seed and dropout implementation, e.g. ``42/kernels``."""
    settings = settings_of(run)
    return f"{settings['seed']}/{'torch' if settings['no_cpu_kernels'] else 'kernels'}"


def load_runs(paths: list[str]) -> dict[str, dict[str, Any]]:
    """Read the results files; exit with a one-line error if one is missing or the recipes differ."""
    runs: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            runs[path] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            sys.exit(f"error: {path}: cannot read a results file ({exc}); give finetune_scifact.py outputs")
        if not {"base", "tuned", "settings"} <= runs[path].keys():
            sys.exit(f"error: {path}: not a finetune_scifact.py results file (needs base, tuned, settings)")
    first, *rest = paths
    recipe = recipe_of(runs[first])
    for path in rest:
        other = recipe_of(runs[path])
        diff = sorted(k for k in recipe.keys() | other.keys() if recipe.get(k) != other.get(k))
        if diff:
            sys.exit(f"error: {path}: recipe differs from {first} in {', '.join(diff)}; summarise one recipe")
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="finetune_scifact.py results files of one recipe")
    p.add_argument("--name", default="finetune_scifact_seeds", help="results file to write")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    if len(set(args.results)) < 2:
        sys.exit("error: give at least two different results files (runs of one recipe at different seeds)")
    runs = load_runs(args.results)
    per_run = {path: target_checks(r["base"], r["tuned"]) for path, r in runs.items()}
    scores = {d: [r["tuned"][str(d)]["ndcg@10"] for r in runs.values()] for d in DIMS}
    mean = {str(d): {"ndcg@10": statistics.fmean(v)} for d, v in scores.items()}
    std = {str(d): statistics.stdev(v) for d, v in scores.items()}
    base = next(iter(runs.values()))["base"]  # the untouched model: runs agree on it to 1e-3
    on_mean = target_checks(base, mean)
    rows = [[d, base[str(d)]["ndcg@10"], *scores[d], mean[str(d)]["ndcg@10"], std[str(d)]] for d in DIMS]
    console.print(
        table(
            "SciFact test nDCG@10: tuned per run (seed/dropout)",
            ["dim", "base", *(label(r) for r in runs.values()), "mean", "std"],
            rows,
        )
    )
    rets = {k: [c[k] for c in per_run.values()] for k in ("tuned_retention_128", "tuned_retention_32")}
    for path, checks in per_run.items():
        console.print(path, checks)
    console.print("on the mean scores:", on_mean)
    write_result(
        args.name,
        {
            "runs": {path: {"run": label(runs[path]), **c} for path, c in per_run.items()},
            "tuned_mean": {d: round(v["ndcg@10"], 4) for d, v in mean.items()},
            "tuned_std": {d: round(v, 4) for d, v in std.items()},
            "retention_mean": {k: round(statistics.fmean(v), 2) for k, v in rets.items()},
            "retention_min": {k: min(v) for k, v in rets.items()},
            "checks_on_mean": on_mean,
            "targets_met_every_run": all(c["targets_met"] for c in per_run.values()),
            "recipe": recipe_of(next(iter(runs.values()))),
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
