"""Headline results from a dev-selected recipe's runs over seeds (issue #22, items 3 and 4).

The headline files (``finetune_scifact.json`` for benchmark 1, ``sts_retention.json`` for benchmark 3)
hold the mean over seeds of one recipe, the recipe chosen on dev by ``select_recipe.py``. This script
reads that selection file and the per-seed results files of the chosen recipe run on test, checks that
each seed run is the chosen recipe (same settings apart from data, seed, output folder and name) and
writes the headline file with the same keys as a single run, means in place of single values, plus
``"selection": "dev"``, the per-seed figures, the sample standard deviation and a 95% t interval of the
headline metric at each dim, and the command of every seed run.

Usage:
    python benchmarks/headline.py --selection benchmarks/results/selection_scifact.json \\
        benchmarks/results/finetune_scifact_dev_seed42.json ..._seed43.json ..._seed44.json \\
        --name finetune_scifact
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import (
    RESULTS,
    add_overwrite_argument,
    check_writable,
    command_line,
    console,
    table,
    write_result,
)
from finetune_scifact import DIMS, target_checks

#: Settings that may differ between the selection run and the seed runs of the same recipe.
FREE = {"data", "seed", "output_dir", "name", "overwrite", "resume", "score_on"}
#: Two-sided 95% Student t quantiles by degrees of freedom (n - 1), for the interval of a mean.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def interval(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and the 95% t interval's half width of ``values`` (n >= 2)."""
    n = len(values)
    mean, std = statistics.fmean(values), statistics.stdev(values)
    half = T95.get(n - 1, 1.96) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95_half_width": half}


def is_sts(run: dict[str, Any]) -> bool:
    """Whether a results file is benchmark 3's (``sts_retention.py``) rather than benchmark 1's."""
    return "matryoshka" in run


def recipe(run: dict[str, Any]) -> dict[str, Any]:
    """A run's settings without those free to differ between the seeds of one recipe."""
    return {k: v for k, v in run["settings"].items() if k not in FREE}


def _mean_nested(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean over runs of ``run[key]``: ``{dim: value}`` or ``{dim: {metric: value}}``."""
    first = runs[0][key]
    out: dict[str, Any] = {}
    for dim, value in first.items():
        if isinstance(value, dict):
            out[dim] = {m: statistics.fmean(r[key][dim][m] for r in runs) for m in value}
        else:
            out[dim] = statistics.fmean(r[key][dim] for r in runs)
    return out


def summarise(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The headline payload (without selection and command) of per-seed runs of one recipe."""
    values = list(runs.values())
    seeds = {path: run["settings"]["seed"] for path, run in runs.items()}
    if is_sts(values[0]):
        mat, std_model = _mean_nested(values, "matryoshka"), _mean_nested(values, "standard")
        base = _mean_nested(values, "base")
        means = {"matryoshka": mat, "base": base, "standard": std_model}
        retention = {k: 100 * v["32"] / v["384"] for k, v in means.items()}
        checks: dict[str, Any] = {f"{k}_retention_32": round(v, 2) for k, v in retention.items()}
        checks["targets_met"] = (
            retention["matryoshka"] >= 98.5 and retention["matryoshka"] > retention["standard"]
        )
        spread = {str(d): interval([r["matryoshka"][str(d)] for r in values]) for d in DIMS}
        per_seed = {
            str(seeds[p]): {"file": p, "matryoshka": r["matryoshka"], "checks": r["checks"]}
            for p, r in runs.items()
        }
        return {
            **means,
            "retention_32": {k: round(v, 3) for k, v in retention.items()},
            "checks": checks,
            "spread": {"metric": "matryoshka spearman", **spread},
            "seeds": per_seed,
        }
    base, tuned = _mean_nested(values, "base"), _mean_nested(values, "tuned")
    spread = {str(d): interval([r["tuned"][str(d)]["ndcg@10"] for r in values]) for d in DIMS}
    per_seed = {
        str(seeds[p]): {"file": p, "tuned": r["tuned"], "checks": target_checks(r["base"], r["tuned"])}
        for p, r in runs.items()
    }
    return {
        "base": base,
        "tuned": tuned,
        "checks": target_checks(base, tuned),
        "spread": {"metric": "tuned ndcg@10", **spread},
        "seeds": per_seed,
    }


def load(paths: list[str], selection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Read the seed runs; exit with one line if one is unreadable, repeats a seed or is another recipe."""
    chosen_file = Path(selection["runs"][selection["chosen"]]["file"])
    if not chosen_file.is_file():
        chosen_file = RESULTS / chosen_file.name
    chosen = json.loads(chosen_file.read_text())
    runs: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            runs[path] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            sys.exit(f"error: {path}: cannot read a results file ({exc})")
        diff = sorted(
            k
            for k in recipe(chosen).keys() | recipe(runs[path]).keys()
            if recipe(chosen).get(k) != recipe(runs[path]).get(k)
        )
        if diff:
            sys.exit(
                f"error: {path}: not the chosen recipe {selection['chosen']} (differs in {', '.join(diff)})"
            )
        if "selection" in str(runs[path]["settings"].get("data")) or runs[path].get("scored_on") == "sts-dev":
            sys.exit(f"error: {path}: scored on the selection set; the headline needs runs scored on test")
    if len({r["settings"]["seed"] for r in runs.values()}) != len(runs) or len(runs) < 3:
        sys.exit("error: give the chosen recipe's test runs at >= 3 different seeds")
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="results files of the chosen recipe on test, one per seed")
    p.add_argument("--selection", required=True, type=Path, help="select_recipe.py's results file")
    p.add_argument("--name", required=True, help="headline file: finetune_scifact or sts_retention")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    selection = json.loads(args.selection.read_text())
    runs = load(args.runs, selection)
    payload = summarise(runs)
    first = next(iter(runs.values()))
    metric = payload["spread"]["metric"]
    rows = [
        [d, s["mean"], s["std"], f"± {s['ci95_half_width']:.4f}"]
        for d, s in ((d, payload["spread"][str(d)]) for d in DIMS)
    ]
    console.print(table(f"{metric} over {len(runs)} seeds", ["dim", "mean", "std", "95% CI"], rows))
    console.print(payload["checks"])
    write_result(
        args.name,
        {
            **payload,
            "selection": "dev",
            "selection_file": str(args.selection),
            "chosen_recipe": selection["chosen"],
            "settings": {**first["settings"], "seed": sorted(int(s) for s in payload["seeds"])},
            "seed_commands": [r["command"] for r in runs.values()],
            "machine": first.get("machine"),
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
