"""Pick hybrid fusion settings on the user's dev queries and qrels, and store them in the index.

The grid crosses RRF and DBSF with dense weights 0, 0.1, ..., 1 (BM25 weight = 1 - dense weight). Dense
and BM25 lists are retrieved once; only the fusion is recomputed per setting. Tune on a dev split,
never on the queries you report: the stored settings are fitted to these qrels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrlkit.errors import ConfigError, DataError
from mrlkit.search.components import publish
from mrlkit.search.config import SearchMode
from mrlkit.search.fusion import FusionMethod
from mrlkit.search.hybrid import FUSION, FusionSettings, fuse_runs, retrieve_runs
from mrlkit.search.metrics import mean_metric

if TYPE_CHECKING:
    from mrlkit.search.index import Index

DENSE_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def read_dev_set(index: Index, queries_path: str | Path, qrels_path: str | Path) -> tuple[dict, dict]:
    """Read BEIR-style ``queries.jsonl`` and a qrels TSV whose documents are in ``index``.

    Returns:
        ``(query id -> text, query id -> {doc id -> grade})`` for the queries with a relevant document.

    Raises:
        DataError: Unreadable files, unknown ids, or no query with a relevant document.
    """
    from mrlkit.data.beir import read_qrels, read_queries

    queries = read_queries(Path(queries_path))
    qrels: dict[str, dict[str, int]] = {}
    for _, qid, doc, grade in read_qrels(Path(qrels_path), queries, dict.fromkeys(index.id_rows(), "")):
        qrels.setdefault(qid, {})[doc] = grade
    qrels = {q: rel for q, rel in qrels.items() if any(g > 0 for g in rel.values())}
    if not qrels:
        raise DataError(
            "no query has a relevant document (grade > 0)", path=qrels_path, fix="Check the qrels"
        )
    return {q: queries[q] for q in qrels}, qrels


def tune_fusion(
    index: Index,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    metric: str = "ndcg@10",
    dense_mode: str | None = None,
    candidates: int | None = None,
    save: bool = True,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every grid setting on ``qrels`` and (with ``save``) store the best in the index's manifest.

    Ties keep the earlier setting; the grid starts with RRF at equal weights, the untuned default.

    Returns:
        ``settings`` (the best), ``score`` (its metric), ``baseline`` (RRF at equal weights), ``grid`` (all).

    Raises:
        ConfigError: An unknown metric, or an index without BM25.
    """
    name, _, cut = metric.partition("@")
    if name not in ("ndcg", "recall") or not cut.isdigit() or int(cut) <= 0:
        raise ConfigError(f"metric must look like ndcg@10 or recall@100, got {metric!r}")
    base = FusionSettings(dense_mode=SearchMode(dense_mode or "funnel"), candidates=candidates or 100)
    qids = list(qrels)
    runs = retrieve_runs(index, [queries[q] for q in qids], base)
    k = max(int(cut), 10)
    grid = [(FusionMethod.RRF, 0.5)] + [
        (method, w)
        for method in FusionMethod
        for w in DENSE_WEIGHTS
        if (method, w) != (FusionMethod.RRF, 0.5)
    ]
    results = []
    best: tuple[float, FusionSettings] | None = None
    for method, dense_weight in grid:
        settings = FusionSettings(
            method=method,
            weights=[dense_weight, round(1 - dense_weight, 1)],
            dense_mode=base.dense_mode,
            candidates=base.candidates,
        )
        fused = fuse_runs(runs, settings, k)
        ranked = {q: [index.ids[row] for row, _ in top] for q, top in zip(qids, fused, strict=True)}
        score = mean_metric(ranked, qrels, metric)
        results.append({"method": method.value, "weights": settings.weights, metric: round(score, 6)})
        if best is None or score > best[0]:
            best = (score, settings)
    assert best is not None  # the grid is never empty
    out = {
        "settings": best[1].to_dict(),
        "metric": metric,
        "score": best[0],
        "baseline": results[0][metric],
        "queries": len(qids),
        "source": source or {},
        "grid": results,
    }
    if save:
        publish(index.path, FUSION, out)
        index._load()
    return out
