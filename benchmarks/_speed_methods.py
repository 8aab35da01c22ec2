"""The methods search_speed.py compares, each built, tuned on the tuning queries and measured the same way.

exact fp32 (numpy BLAS matmul, faiss ``IndexFlatIP``), faiss ``IndexHNSWFlat`` and usearch over the full
vectors, and mrlkit's funnel (``Index.from_vectors`` + ``tune_index``), all returning row numbers.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from _common import console
from _search_bench import EF_GRID, batch_qps, recall_at_k, rss, settle, single_qps, timed, tune

K = 10
FULL_BYTES = 384 * 4
FOUND: dict[str, np.ndarray] = {}  # single-query results per method, for --save-ids


def synthetic(n: int, n_queries: int, dim: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded Gaussian mixture on the unit sphere (tests and --synthetic: no model needed)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 20, 2), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n + n_queries)]
    x += 0.5 * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n], x[n:]


def numpy_exact(corpus: np.ndarray) -> Any:
    def search(q: np.ndarray) -> np.ndarray:
        scores = q @ corpus.T
        part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    return search


def faiss_flat(corpus: np.ndarray) -> tuple[Any, float]:
    import faiss

    index = faiss.IndexFlatIP(corpus.shape[1])
    _, wall, cpu = timed(lambda: index.add(corpus))
    return index, (wall, cpu)


def faiss_hnsw(corpus: np.ndarray, m: int, ef_construction: int) -> tuple[Any, float]:
    import faiss

    index = faiss.IndexHNSWFlat(corpus.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    _, wall, cpu = timed(lambda: index.add(corpus))
    return index, (wall, cpu)


def faiss_searcher(index: Any, ef: int | None = None) -> Any:
    if ef is not None:
        index.hnsw.efSearch = ef
    return lambda q: index.search(q, K)[1]


def usearch_hnsw(corpus: np.ndarray, dtype: str, threads: int) -> tuple[Any, float]:
    from usearch.index import Index

    index = Index(ndim=corpus.shape[1], metric="ip", dtype=dtype)  # connectivity 16, expansion_add 128
    keys = np.arange(len(corpus), dtype=np.uint64)
    _, wall, cpu = timed(lambda: index.add(keys, corpus, threads=threads))
    return index, (wall, cpu)


def usearch_searcher(index: Any, ef: int, threads: int) -> Any:
    index.expansion_search = ef

    def search(q: np.ndarray) -> np.ndarray:
        keys = np.asarray(index.search(q if len(q) > 1 else q[0], K, threads=threads).keys, dtype=np.int64)
        return keys.reshape(len(q), -1)

    return search


def mrlkit_searcher(index: Any, mode: str, k_prime: int | None = None, ef: int | None = None) -> Any:
    def search(q: np.ndarray) -> np.ndarray:
        ids, _ = index.search_vectors(q, k=K, mode=mode, k_prime=k_prime, ef=ef)
        return _rows(ids)

    return search


def _rows(ids: Any) -> np.ndarray:
    """The benchmark's ids are str(row); turn a result's ids back into row numbers (-1: none)."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return np.vectorize(lambda s: int(s) if s not in (None, "") else -1, otypes=[np.int64])(arr)


def measure(
    name: str,
    search: Any,
    q_single: np.ndarray,
    q_batch: np.ndarray,
    truth_s: np.ndarray,
    truth_b: np.ndarray,
) -> dict[str, Any]:
    """Single-query and batch-of-64 QPS, recall@10 of each against exact."""
    qps1, cpu1, found1 = single_qps(search, q_single)
    qps64, cpu64, found64 = batch_qps(search, q_batch, 64)
    row = {
        "qps": round(qps1, 2),
        "recall@10": round(recall_at_k(found1, truth_s), 4),
        "qps_cpu": round(cpu1, 2),
        "batch64_qps": round(qps64, 2),
        "batch64_qps_cpu": round(cpu64, 2),
        "batch64_recall@10": round(recall_at_k(found64, truth_b), 4),
    }
    console.print(f"  {name}: {row}")
    FOUND[name] = found1
    return row


def run_funnel(
    spec: str, corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace
) -> dict[str, Any]:
    """Build an mrlkit index for ``kind:dim[:hnsw]``, tune k' (and ef) on the tuning queries, measure."""
    from mrlkit.search import Index, IndexConfig, tune_index

    parts = spec.split(":")
    kind, dim, hnsw = parts[0], int(parts[1]), len(parts) > 2 and parts[2] == "hnsw"
    path = Path(args.work_dir) / spec.replace(":", "-")
    shutil.rmtree(path, ignore_errors=True)
    cfg = IndexConfig(
        shortlist_dim=dim,
        quantization=kind,
        full_dtype="fp16",
        hnsw=hnsw,
        hnsw_m=args.hnsw_m,
        hnsw_ef_construction=args.hnsw_ef_construction,
    )
    _, build_s, build_cpu = timed(
        lambda: Index.from_vectors(path, [str(i) for i in range(len(corpus))], corpus, config=cfg)
    )
    index = Index.open(path)
    mode = "hnsw" if hnsw else "funnel"
    # mrlkit's tuner on the tuning queries (never the evaluation ones); searches then use its k'/ef
    tuned = tune_index(index, data["tune"], recall=args.tune_recall, k=K)
    console.print(f"  {spec}: tuned {tuned}")
    k_prime, ef = tuned["k_prime"], tuned.get("ef")
    del index
    before = settle()  # resident memory of a freshly opened, tuned index while it serves the queries
    index = Index.open(path)
    row = measure(
        spec,
        mrlkit_searcher(index, mode),
        data["single"],
        data["batch"],
        data["truth_single"],
        data["truth_batch"],
    )
    after = settle()
    short_bytes = dim // 8 if kind == "binary" else dim * (1 if kind == "int8" else 4)
    disk = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    row.update(
        config=spec,
        k_prime=k_prime,
        ef=ef,
        tuned=tuned,
        build_s=round(build_s, 2),
        build_cpu_s=round(build_cpu, 2),
        ram_bytes_per_vector=short_bytes + (2 * args.hnsw_m * 4 if hnsw else 0),  # + level-0 graph links
        rss_anon_delta_bytes_per_vector=round((after["anon"] - before["anon"]) / len(corpus), 1),
        rss_file_delta_bytes_per_vector=round((after["file"] - before["file"]) / len(corpus), 1),
        disk_bytes_per_vector=round(disk / len(corpus), 1),
    )
    del index
    if not args.keep_indexes:
        shutil.rmtree(path, ignore_errors=True)
    return row


def _measure_all(name: str, search: Any, data: dict[str, np.ndarray]) -> dict[str, Any]:
    return measure(name, search, data["single"], data["batch"], data["truth_single"], data["truth_batch"])


def _faiss_hnsw_row(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace
) -> dict[str, Any]:
    before = settle()
    console.print(f"faiss HNSW (M={args.hnsw_m}, efConstruction={args.hnsw_ef_construction}): building")
    index, seconds = faiss_hnsw(corpus, args.hnsw_m, args.hnsw_ef_construction)
    anon = rss()["anon"] - before["anon"]
    ef, _, tried = tune(
        lambda e: faiss_searcher(index, e), EF_GRID, data["tune"], data["truth_tune"], args.tune_recall
    )
    return {
        **_measure_all("hnsw_full", faiss_searcher(index, ef), data),
        "library": "faiss IndexHNSWFlat",
        "M": args.hnsw_m,
        "ef_construction": args.hnsw_ef_construction,
        "ef_search": ef,
        "tuning_ef": tried,
        "build_s": round(seconds[0], 2),
        "build_cpu_s": round(seconds[1], 2),
        "ram_bytes_per_vector": FULL_BYTES + 2 * args.hnsw_m * 4,
        "rss_anon_delta_bytes_per_vector": round(anon / len(corpus), 1),
    }


def _usearch_row(
    corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace, dtype: str
) -> dict[str, Any]:
    before = settle()
    console.print(f"usearch HNSW {dtype}: building")
    index, seconds = usearch_hnsw(corpus, dtype, args.threads)
    anon = rss()["anon"] - before["anon"]
    ef, _, tried = tune(
        lambda e: usearch_searcher(index, e, args.threads),
        EF_GRID,
        data["tune"],
        data["truth_tune"],
        args.tune_recall,
    )
    return {
        **_measure_all(f"usearch_{dtype}", usearch_searcher(index, ef, args.threads), data),
        "library": f"usearch {dtype} (connectivity 16, expansion_add 128)",
        "ef_search": ef,
        "tuning_ef": tried,
        "build_s": round(seconds[0], 2),
        "build_cpu_s": round(seconds[1], 2),
        "ram_bytes_per_vector": round(index.memory_usage / len(corpus), 1),
        "rss_anon_delta_bytes_per_vector": round(anon / len(corpus), 1),
    }


def _faiss_flat_row(corpus: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, Any]:
    before = settle()
    index, seconds = faiss_flat(corpus)
    anon = rss()["anon"] - before["anon"]
    return {
        **_measure_all("exact_faiss", faiss_searcher(index), data),
        "build_s": round(seconds[0], 2),
        "build_cpu_s": round(seconds[1], 2),
        "ram_bytes_per_vector": FULL_BYTES,
        "rss_anon_delta_bytes_per_vector": round(anon / len(corpus), 1),
    }


def run_exact(corpus: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Exact fp32 brute force: numpy matmul and faiss IndexFlatIP."""
    console.print("exact: numpy matmul, faiss IndexFlatIP")
    return {
        "exact_numpy": {
            **_measure_all("exact_numpy", numpy_exact(corpus), data),
            "build_s": 0.0,
            "build_cpu_s": 0.0,
            "ram_bytes_per_vector": FULL_BYTES,
        },
        "exact_faiss": _faiss_flat_row(corpus, data),
    }


def run_ann(corpus: np.ndarray, data: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    """faiss HNSW and usearch HNSW over the full fp32 vectors, ef tuned on the tuning queries."""
    out: dict[str, Any] = {"hnsw_full": _faiss_hnsw_row(corpus, data, args)}
    for dtype in [d for d in args.usearch_dtypes.split(",") if d]:
        out[f"usearch_{dtype}"] = _usearch_row(corpus, data, args, dtype)
    return out
