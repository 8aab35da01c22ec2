"""Pick hybrid fusion settings on the user's dev queries and qrels, and store them in the index.

The grid crosses RRF and DBSF with every weight vector on a 0.1 grid summing to 1 over the retrievers
(default dense and BM25: dense weights 0, 0.1, ..., 1 and BM25 weight = 1 - dense weight; with dense,
sparse and BM25, 66 vectors). Each retriever's list is retrieved once; only the fusion is recomputed per
setting. Tune on a dev split, never on the queries you report: the stored settings are fitted to these
qrels, and hybrid search uses them only for the retrievers they were tuned on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrlkit.errors import ConfigError, DataError
from mrlkit.search.components import publish
from mrlkit.search.config import SearchMode
from mrlkit.search.fusion import FusionMethod
from mrlkit.search.hybrid import (
    DEFAULT_RETRIEVERS,
    FUSION,
    FusionSettings,
    Runs,
    check_retrievers,
    fuse_runs,
    retrieve_runs,
)
from mrlkit.search.metrics import mean_metric

if TYPE_CHECKING:
    from mrlkit.search.index import Index

STEPS = 10  # weight grid: multiples of 1 / STEPS


def weight_grid(n: int) -> list[list[float]]:
    """Every vector of ``n`` weights in multiples of 0.1 summing to 1, equal weights first.

    Equal weights open the grid (0.5, 0.5 for two retrievers; 1/n each otherwise); for two retrievers
    the rest follow the first weight 0, 0.1, ..., 1.
    """

    def parts(total: int, slots: int) -> list[list[int]]:
        if slots == 1:
            return [[total]]
        return [[i, *rest] for i in range(total + 1) for rest in parts(total - i, slots - 1)]

    equal = [round(1 / n, 4)] * n
    grid = [[round(p / STEPS, 1) for p in combo] for combo in parts(STEPS, n)]
    return [equal] + [w for w in grid if w != equal]


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


def fusion_score(
    index: Index,
    runs: Runs,
    settings: FusionSettings,
    qids: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    metric: str = "ndcg@10",
) -> float:
    """``metric`` (``ndcg@K`` or ``recall@K``) of one fusion setting over already retrieved ``runs``."""
    k = max(int(metric.partition("@")[2]), 10)
    fused = fuse_runs(runs, settings, k)
    ranked = {q: [index.ids[row] for row, _ in top] for q, top in zip(qids, fused, strict=True)}
    return mean_metric(ranked, qrels, metric)


def tune_fusion(
    index: Index,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    metric: str = "ndcg@10",
    dense_mode: str | None = None,
    candidates: int | None = None,
    save: bool = True,
    source: dict[str, Any] | None = None,
    retrievers: Sequence[str] | str = DEFAULT_RETRIEVERS,
) -> dict[str, Any]:
    """Score every grid setting on ``qrels`` and (with ``save``) store the best in the index's manifest.

    Ties keep the earlier setting; the grid starts with RRF at equal weights, the untuned default.

    Returns:
        ``settings`` (the best), ``score`` (its metric), ``baseline`` (RRF at equal weights), ``grid`` (all).

    Raises:
        ConfigError: An unknown metric or retriever, or an index without the BM25 / sparse part asked for.
    """
    name, _, cut = metric.partition("@")
    if name not in ("ndcg", "recall") or not cut.isdigit() or int(cut) <= 0:
        raise ConfigError(f"metric must look like ndcg@10 or recall@100, got {metric!r}")
    base = FusionSettings(
        dense_mode=SearchMode(dense_mode or "funnel"),
        candidates=candidates or 100,
        retrievers=check_retrievers(retrievers),
    )
    qids = list(qrels)
    runs = retrieve_runs(index, [queries[q] for q in qids], base)
    weights = weight_grid(len(base.retrievers))
    methods = [FusionMethod.RRF] + [m for m in FusionMethod if m is not FusionMethod.RRF]
    grid = [(method, w) for method in methods for w in weights]  # RRF at equal weights first
    results = []
    best: tuple[float, FusionSettings] | None = None
    for method, weight in grid:
        settings = FusionSettings(
            method=method,
            weights=weight,
            dense_mode=base.dense_mode,
            candidates=base.candidates,
            retrievers=base.retrievers,
        )
        score = fusion_score(index, runs, settings, qids, qrels, metric)
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
