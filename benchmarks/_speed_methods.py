"""The library methods search_speed.py compares mrlkit with, each built, tuned and measured the same way.

exact fp32 (numpy BLAS matmul, faiss ``IndexFlatIP``), faiss ``IndexHNSWFlat`` and usearch HNSW over the
full vectors (efSearch / expansion_search tuned), and faiss IVF (``IVF-Flat``; ``IVF-PQ`` fast-scan codes
refined with the full vectors), nprobe (and the refine factor) tuned. Every searcher returns row numbers.
mrlkit's own arms are in ``_speed_funnel.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from _common import console
from _search_bench import (
    EF_GRID,
    batch_qps,
    latency_summary,
    recall_at_k,
    rss,
    settle,
    single_qps,
    timed,
    tune,
)

K = 10
FULL_BYTES = 384 * 4
FOUND: dict[str, np.ndarray] = {}  # single-query results per method, for --save-ids
NPROBE_GRID = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
REFINE_FACTORS = (2, 4, 8, 16)


def synthetic(n: int, n_queries: int, dim: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded Gaussian mixture on the unit sphere (tests and --synthetic: no model needed)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 20, 2), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n + n_queries)]
    x += 0.5 * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n], x[n:]


def measure(name: str, search: Any, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Single-query QPS and latency, batch-of-64 QPS, and the recall@10 of each against exact."""
    qps1, cpu1, found1, lat = single_qps(search, data["single"])
    qps64, cpu64, found64 = batch_qps(search, data["batch"], 64)
    row = {
        "qps": round(qps1, 2),
        "recall@10": round(recall_at_k(found1, data["truth_single"]), 4),
        "qps_cpu": round(cpu1, 2),
        **latency_summary(lat),
        "batch64_qps": round(qps64, 2),
        "batch64_qps_cpu": round(cpu64, 2),
        "batch64_recall@10": round(recall_at_k(found64, data["truth_batch"]), 4),
    }
    console.print(f"  {name}: {row}")
    FOUND[name] = found1
    return row


def _built(fn: Any, corpus: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """``fn()``'s index, its build wall/CPU seconds and the growth of anonymous RSS per vector."""
    before = settle()
    index, wall, cpu = timed(fn)
    anon = rss()["anon"] - before["anon"]
    return index, {
        "build_s": round(wall, 2),
        "build_cpu_s": round(cpu, 2),
        "rss_anon_delta_bytes_per_vector": round(anon / len(corpus), 1),
    }


# --------------------------------------------------------------------------- exact


def numpy_exact(corpus: np.ndarray) -> Any:
    def search(q: np.ndarray) -> np.ndarray:
        scores = q @ corpus.T
        part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    return search


def faiss_searcher(index: Any, ef: int | None = None) -> Any:
    if ef is not None:
        index.hnsw.efSearch = ef
    return lambda q: index.search(q, K)[1]


def run_exact(corpus: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Exact fp32 brute force: numpy matmul (BLAS) and faiss IndexFlatIP."""
    import faiss

    console.print("exact: numpy matmul, faiss IndexFlatIP")

    def flat() -> Any:
        index = faiss.IndexFlatIP(corpus.shape[1])
        index.add(corpus)
        return index

    index, build = _built(flat, corpus)
    return {
        "exact_numpy": {
            **measure("exact_numpy", numpy_exact(corpus), data),
            "build_s": 0.0,
            "build_cpu_s": 0.0,
            "ram_bytes_per_vector": FULL_BYTES,
        },
        "exact_faiss": {
            **measure("exact_faiss", faiss_searcher(index), data),
            **build,
            "ram_bytes_per_vector": FULL_BYTES,
        },
    }


# --------------------------------------------------------------------------- HNSW over full vectors


def _faiss_hnsw_row(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace
) -> dict[str, Any]:
    import faiss

    console.print(f"faiss HNSW (M={args.hnsw_m}, efConstruction={args.hnsw_ef_construction}): building")

    def build() -> Any:
        index = faiss.IndexHNSWFlat(corpus.shape[1], args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.hnsw_ef_construction
        index.add(corpus)
        return index

    index, built = _built(build, corpus)
    ef, _, tried = tune(
        lambda e: faiss_searcher(index, e), EF_GRID, data["tune"], data["truth_tune"], args.tune_recall
    )
    return {
        **measure("hnsw_full", faiss_searcher(index, ef), data),
        "library": "faiss IndexHNSWFlat",
        "M": args.hnsw_m,
        "ef_construction": args.hnsw_ef_construction,
        "ef_search": ef,
        "tuning_ef": tried,
        **built,
        "ram_bytes_per_vector": FULL_BYTES + 2 * args.hnsw_m * 4,  # vectors + level-0 links
    }


def usearch_searcher(index: Any, ef: int, threads: int) -> Any:
    index.expansion_search = ef

    def search(q: np.ndarray) -> np.ndarray:
        keys = np.asarray(index.search(q if len(q) > 1 else q[0], K, threads=threads).keys, dtype=np.int64)
        return keys.reshape(len(q), -1)

    return search


def _usearch_row(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace, dtype: str
) -> dict[str, Any]:
    from usearch.index import Index

    console.print(f"usearch HNSW {dtype}: building")

    def build() -> Any:
        index = Index(ndim=corpus.shape[1], metric="ip", dtype=dtype)  # connectivity 16, expansion_add 128
        index.add(np.arange(len(corpus), dtype=np.uint64), corpus, threads=args.threads)
        return index

    index, built = _built(build, corpus)
    ef, _, tried = tune(
        lambda e: usearch_searcher(index, e, args.threads),
        EF_GRID,
        data["tune"],
        data["truth_tune"],
        args.tune_recall,
    )
    return {
        **measure(f"usearch_{dtype}", usearch_searcher(index, ef, args.threads), data),
        "library": f"usearch {dtype} (connectivity 16, expansion_add 128)",
        "ef_search": ef,
        "tuning_ef": tried,
        **built,
        "ram_bytes_per_vector": round(index.memory_usage / len(corpus), 1),
    }


# --------------------------------------------------------------------------- IVF


def ivf_nlist(n: int) -> int:
    """Inverted lists: the power of two nearest 2 sqrt(n) (1M vectors: 2,048), at least 16."""
    return max(16, 2 ** round(np.log2(2 * np.sqrt(n))))


def ivf_searcher(index: Any, nprobe: int, k_factor: int | None = None) -> Any:
    import faiss

    faiss.extract_index_ivf(index).nprobe = nprobe
    if k_factor is not None:
        faiss.downcast_index(index).k_factor = k_factor
    return lambda q: index.search(q, K)[1]


def _fastest(candidates: list[tuple[Any, dict[str, Any]]], queries: np.ndarray) -> tuple[Any, dict]:
    """The candidate searcher that answers ``queries`` (in batches of 64) in the least wall time."""
    best = None
    for search, info in candidates:
        start = time.perf_counter()
        for lo in range(0, len(queries), 64):
            search(queries[lo : lo + 64])
        info["tune_seconds"] = round(time.perf_counter() - start, 4)
        if best is None or info["tune_seconds"] < best[1]["tune_seconds"]:
            best = (search, info)
    return best  # type: ignore[return-value]


def _ivf_row(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace, kind: str
) -> dict[str, Any]:
    """``flat``: IVF-Flat; ``pq``: IVF-PQ fast-scan (4-bit, dim/8 bytes) refined by the fp32 vectors."""
    import faiss

    nlist = ivf_nlist(len(corpus))
    factory = f"IVF{nlist},Flat" if kind == "flat" else f"IVF{nlist},PQ{corpus.shape[1] // 4}x4fs,RFlat"
    console.print(f"faiss {factory}: training and adding")
    rng = np.random.default_rng(args.seed)
    sample = corpus[np.sort(rng.choice(len(corpus), size=min(len(corpus), 64 * nlist), replace=False))]

    def build() -> Any:
        index = faiss.index_factory(corpus.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        index.train(sample)
        index.add(corpus)
        return index

    index, built = _built(build, corpus)
    grid = [p for p in NPROBE_GRID if p <= nlist]
    candidates = []
    for k_factor in [None] if kind == "flat" else REFINE_FACTORS:
        nprobe, got, tried = tune(
            lambda p, f=k_factor: ivf_searcher(index, p, f), grid, data["tune"], data["truth_tune"],
            args.tune_recall,
        )  # fmt: skip
        info = {"nprobe": nprobe, "k_factor": k_factor, "tune_recall": round(got, 4), "tuning": tried}
        candidates.append((ivf_searcher(index, nprobe, k_factor), info))
    ok = [c for c in candidates if c[1]["tune_recall"] >= args.tune_recall] or candidates
    search, chosen = _fastest(ok, data["tune"])
    ivf_searcher(index, chosen["nprobe"], chosen["k_factor"])
    code_bytes = corpus.shape[1] * 4 if kind == "flat" else corpus.shape[1] // 8 + FULL_BYTES
    return {
        **measure(f"ivf_{kind}", search, data),
        "library": f"faiss {factory}",
        "nlist": nlist,
        "nprobe": chosen["nprobe"],
        "k_factor": chosen["k_factor"],
        "tuning": [c[1] for c in candidates],
        **built,
        "ram_bytes_per_vector": code_bytes + 8,  # codes (+ fp32 refine vectors) + 8-byte ids
    }


def run_ann(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace
) -> Iterator[tuple[str, dict[str, Any]]]:
    """faiss HNSW, usearch HNSW (``--usearch-dtypes``), faiss IVF (``--ivf``): (name, row) as each is done."""
    yield "hnsw_full", _faiss_hnsw_row(corpus, data, args)
    for dtype in [d for d in args.usearch_dtypes.split(",") if d]:
        yield f"usearch_{dtype}", _usearch_row(corpus, data, args, dtype)
    for kind in [k for k in args.ivf.split(",") if k]:
        yield f"ivf_{kind}", _ivf_row(corpus, data, args, kind)
