"""Pick benchmark 1's recipe on the selection set (issue #22, item 3), by a rule fixed in advance.

Each argument is a results file of ``finetune_scifact.py`` run on a folder made by
``make_selection_split.py``: its "test" scores are the held-out *train* queries, never SciFact test.
Or each is a results file of ``sts_retention.py --score-on dev``: scored on sts-dev, never sts-test.

The rule, written down before any selection run finished:
  1. the recipe meeting more of benchmark 1's three targets on the selection set wins;
  2. on a tie, the higher mean nDCG@10 over the 64- and 32-dim truncations wins (the dims the
     recipes were built for);
  3. on a further tie, the cheaper run (fewer train seconds) wins.
For STSb (benchmark 3) the same rule with its targets: Matryoshka retention at 32 dims >= 98.5% and
above the standard model's; then the Matryoshka model's mean Spearman at 64 and 32; then seconds.

Usage:
    python benchmarks/select_recipe.py benchmarks/results/selection_scifact_b32.json \
        benchmarks/results/selection_scifact_b128.json [--name selection_scifact]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import command_line, console, table, write_result
from finetune_scifact import target_checks


def score(run: dict[str, Any]) -> tuple[int, float, float]:
    """Sort key of a run under the rule above (larger is better)."""
    checks = target_checks(run["base"], run["tuned"])
    met = sum(
        [
            checks["tuned64_minus_base384_ndcg_points"] >= 3.0,
            checks["tuned_retention_128"] >= 99.5,
            checks["tuned_retention_32"] >= 96.0,
        ]
    )
    small = (run["tuned"]["64"]["ndcg@10"] + run["tuned"]["32"]["ndcg@10"]) / 2
    return met, small, -float(run.get("train_seconds") or 0.0)


def score_sts(run: dict[str, Any]) -> tuple[int, float, float]:
    """Sort key of an ``sts_retention.py --score-on dev`` run under the rule above (larger is better)."""
    mat, std = run["matryoshka"], run["standard"]
    retention, retention_std = mat["32"] / mat["384"], std["32"] / std["384"]
    met = sum([retention >= 0.985, retention > retention_std])
    seconds = sum(float(m.get("train_seconds") or 0.0) for m in run.get("runs", {}).values())
    return met, (mat["64"] + mat["32"]) / 2, -seconds


def _is_sts(run: dict[str, Any]) -> bool:
    return "matryoshka" in run


def _check_selection(stem: str, run: dict[str, Any]) -> None:
    """Refuse a run that was scored on a test set: choosing on it is what issue #22 forbids."""
    if _is_sts(run):
        if run.get("scored_on") != "sts-dev":
            raise SystemExit(
                f"error: {stem} was scored on {run.get('scored_on', 'sts-test')}, not sts-dev; "
                "rerun sts_retention.py with --score-on dev"
            )
    elif "selection" not in str(run.get("settings", {}).get("data", "")):
        raise SystemExit(
            f"error: {stem} was not run on a selection folder (data={run['settings'].get('data')}); "
            "run finetune_scifact.py on the folder make_selection_split.py wrote"
        )


def _sts_table(runs: dict[str, dict[str, Any]], keys: dict[str, tuple], winner: str) -> None:
    rows = []
    for stem, run in runs.items():
        mat, std = run["matryoshka"], run["standard"]
        rows.append(
            [
                stem + (" *" if stem == winner else ""),
                mat["384"],
                mat["64"],
                mat["32"],
                100 * mat["32"] / mat["384"],
                100 * std["32"] / std["384"],
                keys[stem][0],
            ]
        )
    console.print(
        table(
            "Selection set (sts-dev): Matryoshka Spearman; * = chosen",
            ["run", "384", "64", "32", "ret. 32 %", "standard ret. 32 %", "targets met"],
            rows,
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path, help="selection-set results files, one per recipe")
    p.add_argument("--name", default="selection_scifact", help="results file to write")
    args = p.parse_args()
    runs = {f.stem: json.loads(f.read_text()) for f in args.files}
    kinds = {_is_sts(run) for run in runs.values()}
    if len(kinds) > 1:
        raise SystemExit("error: mix of SciFact and STSb results files; select each benchmark on its own")
    for stem, run in runs.items():
        _check_selection(stem, run)
    if kinds == {True}:
        keys = {stem: score_sts(run) for stem, run in runs.items()}
        winner = max(keys, key=lambda s: keys[s])
        _sts_table(runs, keys, winner)
        _write(args, runs, keys, winner)
        return
    keys = {stem: score(run) for stem, run in runs.items()}
    winner = max(keys, key=lambda s: keys[s])
    rows = []
    for stem, run in runs.items():
        c = target_checks(run["base"], run["tuned"])
        rows.append(
            [
                stem + (" *" if stem == winner else ""),
                run["tuned"]["384"]["ndcg@10"],
                run["tuned"]["64"]["ndcg@10"],
                run["tuned"]["32"]["ndcg@10"],
                c["tuned64_minus_base384_ndcg_points"],
                c["tuned_retention_128"],
                c["tuned_retention_32"],
                keys[stem][0],
            ]
        )
    console.print(
        table(
            "Selection set (held-out train queries): nDCG@10; * = chosen",
            ["run", "384", "64", "32", "64 - base 384 (pts)", "ret. 128 %", "ret. 32 %", "targets met"],
            rows,
        )
    )
    _write(args, runs, keys, winner)


def _write(
    args: argparse.Namespace, runs: dict[str, dict[str, Any]], keys: dict[str, tuple], winner: str
) -> None:
    sts = _is_sts(runs[winner])
    write_result(
        args.name,
        {
            "chosen": winner,
            "chosen_command": runs[winner].get("command"),
            "rule": (
                "most targets met on sts-dev; then mean Matryoshka Spearman at 64 and 32; then fewer seconds"
                if sts
                else "most targets met on the selection set; then mean nDCG@10 at 64 and 32; "
                "then fewer seconds"
            ),
            "runs": {f.stem: {"file": str(f), "score_key": list(keys[f.stem])} for f in args.files},
            "command": command_line(),
        },
    )


if __name__ == "__main__":
    main()
