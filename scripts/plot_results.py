"""Draw a benchmark results file's base-vs-tuned curve with mrlkit's report plot (the README figure).

Usage: python scripts/plot_results.py RESULTS_JSON OUT_PNG; the README figure is
    python scripts/plot_results.py benchmarks/results/finetune_scifact.json docs/assets/finetune_scifact.png

Reads the ``base`` and ``tuned`` scores per dim that ``benchmarks/finetune_scifact.py`` writes and
draws them with :func:`mrlkit.evaluation.plot.plot_metric_vs_dim`, the plot of every ``report.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mrlkit.evaluation import Report
from mrlkit.evaluation.plot import plot_metric_vs_dim


def main(results: Path, out: Path) -> None:
    data = json.loads(results.read_text())
    if "base" not in data or "tuned" not in data:
        sys.exit(f"error: {results}: no 'base' and 'tuned' scores; give a finetune_scifact.py results file")
    base = {int(dim): scores for dim, scores in data["base"].items()}
    tuned = {int(dim): scores for dim, scores in data["tuned"].items()}
    report = Report(task="ir", dims=sorted(base, reverse=True), base=base, tuned=tuned)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(plot_metric_vs_dim(report, out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
