"""Pure helpers of ``sparse_scifact.py``: bytes per vector, equal-storage truncation, top-k, data caps, plot.

Storage is counted per document vector: a dense float32 vector takes 4 bytes per dim; a sparse one
8 bytes per active dim (int32 index + float32 weight, :func:`mrlkit.evaluation.sparse.bytes_per_vector`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mrlkit.evaluation.sparse import bytes_per_vector
from mrlkit.search.evaluate import quality
from mrlkit.search.fusion import rrf

DENSE_BYTES_PER_DIM = 4  # float32
METRICS = ("ndcg@10", "mrr@10", "recall@100")


def dense_bytes(dim: int, bytes_per_dim: int = DENSE_BYTES_PER_DIM) -> int:
    """Bytes of a dense vector of ``dim`` dims."""
    return dim * bytes_per_dim


def sparse_bytes(active_dims: float) -> float:
    """Bytes of a sparse vector with ``active_dims`` non-zeros (8 per active dim)."""
    return bytes_per_vector(active_dims)


def equal_bytes_dim(bytes_per_vector: float, full_dim: int, bytes_per_dim: int = DENSE_BYTES_PER_DIM) -> int:
    """The largest dense truncation that fits in ``bytes_per_vector`` (at least 1 dim, at most ``full_dim``).

    A SPLADE vector with 181 active dims (1,448 bytes) matches 362 float32 dims; CSR at k = 32 (256
    bytes) matches 64.
    """
    if bytes_per_vector <= 0 or full_dim <= 0:
        raise ValueError(f"bytes_per_vector and full_dim must be > 0, got {bytes_per_vector}, {full_dim}")
    return max(1, min(full_dim, int(bytes_per_vector // bytes_per_dim)))


def keep_top_k(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest-magnitude entries (what ``max_active_dims=k`` keeps); others dropped."""
    out = matrix.tocsr(copy=True)
    for i in range(out.shape[0]):
        start, end = out.indptr[i], out.indptr[i + 1]
        if end - start > k:
            values = out.data[start:end]
            drop = np.argsort(-np.abs(values), kind="stable")[k:]
            values[drop] = 0.0
    out.eliminate_zeros()
    return out


def mean_active(matrix: sp.csr_matrix) -> float:
    """Mean non-zero entries per row."""
    return float(matrix.nnz / max(matrix.shape[0], 1))


def truncate_normalise(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The leading ``dim`` dims, re-normalised to unit length (cosine = dot product)."""
    cut = vectors[:, :dim].astype(np.float32)
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def dense_top_k(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` rows and scores by dot product."""
    scores = queries @ docs.T
    k = min(k, docs.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, 1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)


Run = dict[str, dict[str, float]]  # query id -> doc id -> score, best first


def to_run(rows: np.ndarray, scores: np.ndarray, doc_ids: Sequence[str], query_ids: Sequence[str]) -> Run:
    """Search output (``-1`` pads) as query id -> {doc id: score}, in rank order."""
    return {
        q: {doc_ids[int(r)]: float(s) for r, s in zip(rows[i], scores[i], strict=True) if r >= 0}
        for i, q in enumerate(query_ids)
    }


def fuse_rrf(runs: Sequence[Run], k: int = 60) -> Run:
    """Reciprocal rank fusion of the runs, query by query (mrlkit's RRF, equal weights)."""
    return {q: rrf([run.get(q, {}) for run in runs], k=k) for q in runs[0]}


def scores_of(run: Run, qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """nDCG@10, MRR@10 and Recall@100 of a run (trec_eval's definitions)."""
    ranked = {q: list(run.get(q, {})) for q in qrels}
    got = quality(ranked, qrels)
    return {m: round(got[m], 4) for m in METRICS}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:  # noqa: ANN401
    """``fn()`` and its wall seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def reuse_state(folder: Path) -> str:
    """What ``--reuse`` does with one model's folder: ``load`` a finished model, ``resume`` an
    interrupted training (a checkpoint but no model), or ``train`` from scratch."""
    if (folder / "model" / "modules.json").is_file():
        return "load"
    if any((folder / "checkpoints").glob("checkpoint-*")):
        return "resume"
    return "train"


def subset_beir(
    src: Path,
    dst: Path,
    corpus_size: int | None,
    test_queries: int | None,
) -> Path:
    """A smaller BEIR copy of ``src`` in ``dst``: the first ``test_queries`` test queries, every document
    judged for a kept query (train or test), then other documents in file order up to ``corpus_size``.
    ``src`` itself when nothing is capped.
    """
    if corpus_size is None and test_queries is None:
        return src

    def qrels(split: str) -> list[list[str]]:
        lines = (src / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        return [line.split("\t") for line in lines[1:] if line.strip()]

    test = qrels("test")
    test_ids = list(dict.fromkeys(row[0] for row in test))[:test_queries]
    test = [row for row in test if row[0] in set(test_ids)]
    train = qrels("train")
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    keep = dict.fromkeys(row[1] for row in test)
    cap = corpus_size if corpus_size is not None else len(docs)
    for row in train:  # train documents only while there is room: the cap bounds encoding time
        if len(keep) < cap:
            keep.setdefault(row[1])
    for doc in docs:
        if len(keep) >= cap:
            break
        keep.setdefault(doc["_id"])
    train = [row for row in train if row[1] in keep]
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    with (dst / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc in docs:
            if doc["_id"] in keep:
                out.write(json.dumps(doc) + "\n")
    (dst / "queries.jsonl").write_text((src / "queries.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    for split, rows in (("test", test), ("train", train)):
        text = "".join("\t".join(r) + "\n" for r in [["query-id", "corpus-id", "score"], *rows])
        (dst / "qrels" / f"{split}.tsv").write_text(text, encoding="utf-8")
    return dst


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's two targets from a results dict (nDCG@10 points)."""
    splade = results["splade"]
    gain = 100 * (splade["tuned"]["ndcg@10"] - splade["base"]["ndcg@10"])
    singles = {
        "splade_base": splade["base"]["ndcg@10"],
        "splade_tuned": splade["tuned"]["ndcg@10"],
        "inference_free_tuned": results["inference_free"]["tuned"]["ndcg@10"],
        "bm25": results["bm25"]["ndcg@10"],
        "dense": results["dense"]["ndcg@10"],
        **{f"csr_{k}": v["ndcg@10"] for k, v in results["csr"].items()},
    }
    best = max(singles, key=lambda name: singles[name])
    hybrid = 100 * (results["hybrid_dense_sparse"]["ndcg@10"] - singles[best])
    return {
        "splade_tuned_minus_base_ndcg_points": round(gain, 2),
        "splade_target_met": gain >= 5.0,
        "best_single_system": best,
        "hybrid_dense_sparse_minus_best_single_points": round(hybrid, 2),
        "hybrid_target_met": hybrid >= 2.0,
    }


COLUMNS = [
    "system",
    "nDCG@10",
    "MRR@10",
    "R@100",
    "act. q",
    "act. doc",
    "B/vector",
    "dense @ same B",
    "docs/s",
    "query ms",
    "search q/s",
]


def summary_rows(results: dict[str, Any]) -> list[list[Any]]:
    """One table row per system (:data:`COLUMNS`); ``-`` where a figure does not apply."""
    rows: list[list[Any]] = []
    named = [
        ("SPLADE-tiny base", results["splade"]["base"]),
        ("SPLADE-tiny tuned", results["splade"]["tuned"]),
        ("inference-free tuned", results["inference_free"]["tuned"]),
    ]
    named += [(f"CSR {k}", row) for k, row in results["csr"].items()]
    for label, row in named:
        eq = row["equal_bytes_dense"]
        rows.append(
            [
                label,
                row["ndcg@10"],
                row["mrr@10"],
                row["recall@100"],
                row["active_dims_query"],
                row["active_dims_doc"],
                row["bytes_per_vector"],
                f"{eq['ndcg@10']:.4f} @{eq['dim']}d",
                row["docs_per_second"],
                row["query_encode_ms"],
                row["search_qps"],
            ]
        )
    d, b = results["dense"], results["bm25"]
    rows.append(
        [
            "dense full",
            d["ndcg@10"],
            d["mrr@10"],
            d["recall@100"],
            "-",
            d["dim"],
            d["bytes_per_vector"],
            "-",
            d["docs_per_second"],
            d["query_encode_ms"],
            d["search_qps"],
        ]
    )
    rows.append(["BM25", b["ndcg@10"], b["mrr@10"], b["recall@100"], *["-"] * 6, b["search_qps"]])
    for name, row in results["hybrid"].items():
        rows.append([f"RRF {name}", row["ndcg@10"], row["mrr@10"], row["recall@100"], *["-"] * 7])
    return rows


def plot(results: dict[str, Any], path: Path) -> Path:
    """nDCG@10 against bytes per document vector: dense truncations vs the sparse models (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    dense = sorted((v["bytes_per_vector"], v["ndcg@10"]) for v in results["dense"]["truncated"].values())
    dense.append((results["dense"]["bytes_per_vector"], results["dense"]["ndcg@10"]))
    dense = sorted(set(dense))
    ax.plot(*zip(*dense, strict=True), "o-", label="dense MiniLM (tuned), float32, truncated")
    csr = sorted((v["bytes_per_vector"], v["ndcg@10"]) for v in results["csr"].values())
    ax.plot(*zip(*csr, strict=True), "s-", label="CSR on the tuned MiniLM, k active dims")
    for key, label, marker in (
        (("splade", "base"), "SPLADE-tiny base", "^"),
        (("splade", "tuned"), "SPLADE-tiny tuned", "v"),
        (("inference_free", "tuned"), "inference-free SPLADE tuned", "D"),
    ):
        row = results[key[0]][key[1]]
        ax.plot([row["bytes_per_vector"]], [row["ndcg@10"]], marker, markersize=8, label=label)
    ax.axhline(results["bm25"]["ndcg@10"], color="grey", linestyle="--", label="BM25 (inverted index)")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per document vector (dense: 4 per dim; sparse: 8 per active dim)")
    ax.set_ylabel("nDCG@10, SciFact test")
    ax.set_title("Matryoshka truncation vs sparse vectors at equal storage")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
