"""faiss vs usearch HNSW over a Matryoshka shortlist: build time, single-query QPS, recall@10.

Vectors: a seeded Gaussian mixture (2,000 centres in 384 dims, unit-normalised), the leading 64 dims
re-normalised as mrlkit's shortlist does; float32 (inner product) and packed sign bits (Hamming). Recall
is against brute force over the same shortlist representation, so it measures the graph alone.
Both libraries run on one thread and times are CPU seconds of this process (time.process_time), so
that other jobs on a shared machine do not distort them; QPS = queries / CPU seconds.

    python benchmarks/search_hnsw_backends.py --n 100000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import faiss
import numpy as np
from usearch.index import Index as UIndex


def data(n: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, 384)).astype(np.float32)
    x = centres[rng.integers(0, 2000, n + nq)] + 1.0 * rng.standard_normal((n + nq, 384)).astype(np.float32)
    x = x[:, :64]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n], x[n:]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def single_qps(search, queries: np.ndarray) -> tuple[float, np.ndarray]:
    out = []
    start = time.process_time()
    for q in queries:
        out.append(search(q[None, :]))
    return len(queries) / (time.process_time() - start), np.vstack(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=500)
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    x, q = data(args.n, args.nq)
    bits, qbits = np.packbits(x > 0, axis=1), np.packbits(q > 0, axis=1)
    k = 10
    flat = faiss.IndexFlatIP(64)
    flat.add(x)
    truth_f = flat.search(q, k)[1]
    bflat = faiss.IndexBinaryFlat(64)
    bflat.add(bits)
    truth_b = bflat.search(qbits, k)[1]
    rows = []
    for kind, base, queries, truth in (("float", x, q, truth_f), ("binary", bits, qbits, truth_b)):
        t = time.process_time()
        if kind == "float":
            fi = faiss.IndexHNSWFlat(64, args.m, faiss.METRIC_INNER_PRODUCT)
        else:
            fi = faiss.IndexBinaryHNSW(64, args.m)
        fi.hnsw.efConstruction = args.ef_construction
        fi.add(base)
        f_build = time.process_time() - t
        t = time.process_time()
        ui = UIndex(
            ndim=64,
            metric="ip" if kind == "float" else "hamming",
            dtype="f32" if kind == "float" else "b1",
            connectivity=args.m,
            expansion_add=args.ef_construction,
        )
        ui.add(np.arange(args.n), base, threads=args.threads)
        u_build = time.process_time() - t
        for ef in (16, 32, 64, 128, 256):
            fi.hnsw.efSearch = ef
            ui.expansion_search = ef
            f_qps, f_found = single_qps(lambda v: fi.search(v, k)[1], queries)  # noqa: B023
            u_qps, u_found = single_qps(
                lambda v: ui.search(v, k, threads=1).keys.reshape(1, -1),  # noqa: B023
                queries,
            )
            rows.append(
                {
                    "shortlist": kind,
                    "ef": ef,
                    "faiss": {
                        "build_s": round(f_build, 2),
                        "qps": round(f_qps),
                        "recall@10": recall(f_found, truth),
                    },
                    "usearch": {
                        "build_s": round(u_build, 2),
                        "qps": round(u_qps),
                        "recall@10": recall(u_found, truth),
                    },
                }
            )
            print(json.dumps(rows[-1]))
    print(json.dumps({"machine": platform.processor() or platform.machine(), "args": vars(args)}))


if __name__ == "__main__":
    main()
