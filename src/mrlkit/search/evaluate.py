"""Score an index's search modes on judged queries: quality, agreement with exact search, speed, memory.

For each mode (exact, funnel, and hnsw when the index has a graph): nDCG@10, MRR@10 and Recall@1/5/10/
20/50/100 against the qrels (trec_eval's definitions, see :mod:`mrlkit.search.metrics`), recall@10
against exact search, queries per second (one query at a time, and in batches of 64; encoding
excluded: the queries are encoded once), and bytes per vector held in RAM and stored on disk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import DataError
from mrlkit.search.config import SearchMode
from mrlkit.search.metrics import ndcg_at_k, recall_at_k
from mrlkit.search.quantise import shortlist_bytes

if TYPE_CHECKING:
    from mrlkit.search.index import Index

RECALL_K = (1, 5, 10, 20, 50, 100)
BATCH = 64
SINGLE_QUERIES = 100


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document (grade > 0) in the top ``k``, else 0."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def quality(runs: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and Recall@k over the judged queries."""
    out = {
        "ndcg@10": float(np.mean([ndcg_at_k(runs[q], rel, 10) for q, rel in qrels.items()])),
        "mrr@10": float(np.mean([mrr_at_k(runs[q], rel, 10) for q, rel in qrels.items()])),
    }
    for k in RECALL_K:
        out[f"recall@{k}"] = float(np.mean([recall_at_k(runs[q], rel, k) for q, rel in qrels.items()]))
    return out


def _timed(
    index: Index, vectors: np.ndarray, k: int, mode: str, **kw: Any
) -> tuple[np.ndarray, dict[str, float]]:  # noqa: ANN401
    start = time.perf_counter()
    rows = np.vstack(
        [
            index.search_vectors(vectors[i : i + BATCH], k, mode, **kw)[0]
            for i in range(0, len(vectors), BATCH)
        ]
    )
    batch_qps = len(vectors) / (time.perf_counter() - start)
    single = vectors[:SINGLE_QUERIES]
    start = time.perf_counter()
    for i in range(len(single)):
        index.search_vectors(single[i : i + 1], k, mode, **kw)
    single_qps = len(single) / (time.perf_counter() - start)
    return rows, {"qps_single": round(single_qps, 1), "qps_batch64": round(batch_qps, 1)}


def mode_bytes(index: Index, mode: SearchMode) -> dict[str, float]:
    """Bytes per vector a mode keeps in RAM and reads from disk (the stored full vectors)."""
    rows = max(index.manifest.rows, 1)
    full = np.dtype(index.full.arrays[0].dtype).itemsize * index.manifest.dim if index.full.arrays else 0
    if mode is SearchMode.EXACT:
        return {"ram_bytes_per_vector": float(full), "disk_bytes_per_vector": float(full)}
    ram = float(shortlist_bytes(index.config.shortlist_dim, index.config.quantization))
    disk = ram + full
    if mode is SearchMode.HNSW:
        from mrlkit.search.changes import disk_sizes

        graph = disk_sizes(index.path, index.manifest).get("hnsw", 0) / rows
        ram, disk = ram + graph, disk + graph
    return {"ram_bytes_per_vector": round(ram, 1), "disk_bytes_per_vector": round(disk, 1)}


def evaluate_search(
    index: Index,
    queries: Mapping[str, str] | Mapping[str, np.ndarray],
    qrels: Mapping[str, Mapping[str, int]],
    modes: Sequence[str] | None = None,
    k_prime: int | None = None,
    ef: int | None = None,
) -> dict[str, Any]:
    """Evaluate each mode of ``index`` on ``queries`` (texts, or vectors) judged by ``qrels``.

    Returns:
        ``{"modes": {mode: metrics}, "queries": n, "documents": n, "k_prime": k', "ef": ef}``.

    Raises:
        DataError: No query of ``queries`` has a judgment in ``qrels``.
    """
    judged = {q: rel for q, rel in qrels.items() if q in queries and any(g > 0 for g in rel.values())}
    if not judged:
        raise DataError("no query has a relevant document in the qrels", fix="Check that the query ids match")
    ids = list(judged)
    first = next(iter(queries.values()))
    if isinstance(first, np.ndarray):
        vectors = np.vstack([queries[q] for q in ids]).astype(np.float32)  # type: ignore[misc]
    else:
        vectors = index.encoder.encode([str(queries[q]) for q in ids], query=True)
    wanted = [SearchMode(m) for m in modes] if modes else [SearchMode.EXACT, SearchMode.FUNNEL]
    if not modes and index.graphs is not None:
        wanted.append(SearchMode.HNSW)
    k = min(max(RECALL_K), len(index))
    results: dict[str, Any] = {}
    exact_top10: np.ndarray | None = None
    for mode in wanted:
        kw = {} if mode is SearchMode.EXACT else {"k_prime": k_prime, "ef": ef}
        rows, speed = _timed(index, vectors, k, mode.value, **kw)
        if mode is SearchMode.EXACT:
            exact_top10 = rows[:, :10]
        runs = {q: [index.ids[r] for r in row if r >= 0] for q, row in zip(ids, rows, strict=True)}
        metrics = quality(runs, judged)
        if exact_top10 is not None:
            overlap = [
                len(np.intersect1d(a, b)) / len(b) for a, b in zip(rows[:, :10], exact_top10, strict=True)
            ]
            metrics["recall_vs_exact@10"] = float(np.mean(overlap))
        results[mode.value] = {**metrics, **speed, **mode_bytes(index, mode)}
    return {
        "modes": results,
        "queries": len(ids),
        "documents": len(index),
        "k_prime": index.resolve_k_prime(10, k_prime),
        "ef": index.resolve_ef(index.resolve_k_prime(10, k_prime), ef) if index.graphs is not None else None,
    }


def save_evaluation(results: dict[str, Any], output_dir: Path) -> list[Path]:
    """Write ``search_eval.json`` and ``search_eval.png`` (quality and speed against RAM per vector)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = output_dir / "search_eval.json", output_dir / "search_eval.png"
    json_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, m in results["modes"].items():
        axes[0].scatter(m["ram_bytes_per_vector"], m["ndcg@10"], label=mode)
        axes[1].scatter(m["ram_bytes_per_vector"], m["qps_single"], label=mode)
    for ax, label in zip(axes, ("nDCG@10", "queries/s (single)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("RAM bytes per vector")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return [json_path, png_path]
