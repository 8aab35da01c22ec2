"""Queries per second, one query per call: built-in index vs embedded Qdrant (client local mode, edge).

The same unit vectors (random, or ``--vectors FILE.npy``) go into each engine; every engine answers the same
queries, exact (full-dim brute force) and funnel (shortlist of the first ``--short`` dims, then full-dim
rescoring of ``--k-prime`` candidates). Overlap@10 with the built-in exact search is reported too.

    python benchmarks/qdrant_local_qps.py --rows 5000 --queries 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_overwrite_argument, check_writable, console, table, write_result

from mrlkit.search import Index, IndexConfig
from mrlkit.search.quantise import truncate


def timed(fn, queries):
    start = time.perf_counter()
    out = [fn(q) for q in queries]
    return out, len(queries) / (time.perf_counter() - start)


def overlap(a, b):
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


def qdrant_client_engine(tmp, X, short, k, kp):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp / "client"))
    client.create_collection(
        "c",
        vectors_config={
            "short": models.VectorParams(size=short.shape[1], distance=models.Distance.COSINE),
            "full": models.VectorParams(size=X.shape[1], distance=models.Distance.COSINE),
        },
    )
    for s in range(0, len(X), 512):
        pts = [
            models.PointStruct(id=i, vector={"short": short[i].tolist(), "full": X[i].tolist()})
            for i in range(s, min(s + 512, len(X)))
        ]
        client.upsert("c", points=pts)

    def exact(q):
        return [p.id for p in client.query_points("c", query=q.tolist(), using="full", limit=k).points]

    def funnel(q):
        pre = models.Prefetch(query=truncate(q[None], short.shape[1])[0].tolist(), using="short", limit=kp)
        return [
            p.id
            for p in client.query_points("c", prefetch=[pre], query=q.tolist(), using="full", limit=k).points
        ]

    return exact, funnel


def qdrant_edge_engine(tmp, X, short, k, kp):
    import qdrant_edge as qe

    quant = qe.BinaryQuantizationConfig(always_ram=True)
    cfg = qe.EdgeConfig(
        vectors={
            "short": qe.EdgeVectorParams(
                size=short.shape[1], distance=qe.Distance.Cosine, quantization_config=quant
            ),
            "full": qe.EdgeVectorParams(size=X.shape[1], distance=qe.Distance.Cosine),
        }
    )
    shard = qe.EdgeShard.create(str(tmp / "edge"), cfg)
    for s in range(0, len(X), 512):
        pts = [
            qe.Point(i, {"short": short[i].tolist(), "full": X[i].tolist()})
            for i in range(s, min(s + 512, len(X)))
        ]
        shard.update(qe.UpdateOperation.upsert_points(pts))
    shard.optimize()

    def exact(q):
        req = qe.QueryRequest(
            limit=k, query=qe.Query.Nearest(q.tolist(), using="full"), params=qe.SearchParams(exact=True)
        )
        return [p.id for p in shard.query(req)]

    def funnel(q):
        pre = qe.Prefetch(
            limit=kp, query=qe.Query.Nearest(truncate(q[None], short.shape[1])[0].tolist(), using="short")
        )
        req = qe.QueryRequest(limit=k, prefetches=[pre], query=qe.Query.Nearest(q.tolist(), using="full"))
        return [p.id for p in shard.query(req)]

    return exact, funnel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--short", type=int, default=64)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k-prime", type=int, default=100)
    p.add_argument(
        "--vectors", type=Path, default=None, help="an (n, dim) .npy of unit vectors instead of random ones"
    )
    p.add_argument("--name", default="qdrant_local_qps")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    rng = np.random.default_rng(0)
    X = np.load(args.vectors) if args.vectors else rng.normal(size=(args.rows + args.queries, args.dim))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    X, Q = X[: -args.queries], X[-args.queries :]
    short = truncate(X, args.short)
    k, kp = 10, args.k_prime
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = IndexConfig(shortlist_dim=args.short, quantization="binary", full_dtype="fp32", k_prime=kp)
        idx = Index.from_vectors(tmp / "idx", [str(i) for i in range(len(X))], X, config=cfg)
        engines = {
            "builtin": (
                lambda q: [int(r) for r in idx.search_vectors(q, k=k, mode="exact")[0][0]],
                lambda q: [int(r) for r in idx.search_vectors(q, k=k, mode="funnel", k_prime=kp)[0][0]],
            ),
            "qdrant_client_local": qdrant_client_engine(tmp, X, short, k, kp),
            "qdrant_edge": qdrant_edge_engine(tmp, X, short, k, kp),
        }
        reference, _ = timed(engines["builtin"][0], Q)
        for name, (exact, funnel) in engines.items():
            for mode, fn in (("exact", exact), ("funnel", funnel)):
                found, qps = timed(fn, Q)
                results[f"{name}_{mode}"] = {
                    "qps": round(qps, 1),
                    "overlap@10_with_exact": round(overlap(found, reference), 4),
                }
    base = {m: results[f"builtin_{m}"]["qps"] for m in ("exact", "funnel")}
    rows = []
    for key, r in results.items():
        mode = key.rsplit("_", 1)[1]
        r["qps_ratio_to_builtin"] = round(r["qps"] / base[mode], 3)
        rows.append(
            [key, f"{r['qps']:.1f}", f"{r['qps_ratio_to_builtin']:.3f}", f"{r['overlap@10_with_exact']:.3f}"]
        )
    console.print(
        table(
            f"{len(X)} x {args.dim} {'given' if args.vectors else 'random'} vectors, {len(Q)} queries",
            ["engine_mode", "QPS", "vs builtin", "overlap@10"],
            rows,
        )
    )
    payload = {
        "rows": len(X),
        "dim": args.dim,
        "short": args.short,
        "k_prime": kp,
        "queries": len(Q),
        "vectors": str(args.vectors) if args.vectors else "random normal, unit length",
        "results": results,
    }
    write_result(args.name, payload, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
