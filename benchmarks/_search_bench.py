"""Timing, recall, tuning and memory helpers shared by search_speed.py and search_quality.py."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Searcher = Callable[[np.ndarray], np.ndarray]  # (nq, dim) float32 -> (nq, k) int64 rows

#: k' grid for the funnel and ef grid for HNSW; tuning picks the smallest value that reaches the target.
K_PRIME_GRID = (10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
EF_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048)


def set_threads(n: int) -> dict[str, Any]:
    """One thread count for faiss (OpenMP), torch and every loaded BLAS; returns what ran, for the record."""
    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits

    faiss.omp_set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    threadpool_limits(n)
    return {
        "threads": n,
        "faiss_omp_max_threads": faiss.omp_get_max_threads(),
        "blas": [
            {k: p.get(k) for k in ("internal_api", "architecture", "num_threads", "version", "filepath")}
            for p in threadpool_info()
        ],
        "env": {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")},
    }


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found_i ∩ truth_i| / |truth_i| (``-1`` in found never matches)."""
    total = 0.0
    for f, t in zip(found, truth, strict=True):
        t = set(int(x) for x in t if x >= 0)
        total += len(t & set(int(x) for x in f)) / max(len(t), 1)
    return total / max(len(truth), 1)


def exact_topk(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Reference top-k rows by inner product (faiss IndexFlatIP, float32)."""
    import faiss

    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(np.ascontiguousarray(corpus, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)[1]


def single_qps(search: Searcher, queries: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Queries per second over a loop of one-query calls (one warm-up call first), and the rows found.

    Returns:
        Wall-clock QPS, CPU-time QPS (queries per second of this process's CPU time: on a shared machine
        wall time also counts the time spent waiting for a core), the rows, and each call's latency (ms).
    """
    search(queries[:1])
    out = []
    latencies = np.empty(len(queries))
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(len(queries)):
        t = time.perf_counter()
        out.append(search(queries[i : i + 1]))
        latencies[i] = (time.perf_counter() - t) * 1000
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(queries) / wall, len(queries) / max(cpu, 1e-9), np.vstack(out), latencies


def latency_summary(latencies_ms: np.ndarray) -> dict[str, float]:
    """Mean, median and 99th percentile of single-query latencies, in milliseconds."""
    return {
        "latency_ms_mean": round(float(np.mean(latencies_ms)), 3),
        "latency_ms_p50": round(float(np.percentile(latencies_ms, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(latencies_ms, 99)), 3),
    }


def batch_qps(search: Searcher, queries: np.ndarray, batch: int = 64) -> tuple[float, float, np.ndarray]:
    """As :func:`single_qps`, over batches of ``batch`` queries (one warm-up batch first)."""
    search(queries[:batch])
    out = []
    start, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, len(queries), batch):
        out.append(search(queries[lo : lo + batch]))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(queries) / wall, len(queries) / max(cpu, 1e-9), np.vstack(out)


def tune(
    make: Callable[[int], Searcher],
    grid: Sequence[int],
    queries: np.ndarray,
    truth: np.ndarray,
    target: float,
) -> tuple[int, float, list[tuple[int, float]]]:
    """Smallest value of ``grid`` whose searcher reaches recall@k >= ``target`` on ``queries``.

    Returns:
        The chosen value (the largest tried when none reaches the target), its recall, and every
        (value, recall) tried, in order.
    """
    tried: list[tuple[int, float]] = []
    for value in grid:
        r = recall_at_k(make(value)(queries), truth)
        tried.append((value, round(r, 4)))
        if r >= target:
            return value, r, tried
    return tried[-1][0], tried[-1][1], tried


def rss() -> dict[str, int]:
    """This process's resident memory in bytes: anonymous (heap) and file-backed (memory-mapped pages)."""
    out = {"anon": 0, "file": 0}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            out["anon"] = int(line.split()[1]) * 1024
        elif line.startswith("RssFile:"):
            out["file"] = int(line.split()[1]) * 1024
    return out


def settle() -> dict[str, int]:
    """Collect garbage, return freed heap to the OS where glibc allows, then measure :func:`rss`."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return rss()


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall time and this process's CPU time, in seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - start, time.process_time() - cpu
