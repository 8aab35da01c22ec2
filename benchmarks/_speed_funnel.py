"""mrlkit's arms in search_speed.py: the funnel (float / int8 / binary shortlists) and HNSW over it.

Each ``kind:dim[:hnsw]`` spec is built with ``Index.from_vectors`` (full vectors fp16, memory-mapped), tuned
with mrlkit's own ``tune_index`` on the tuning queries, reopened (so the resident memory is that of a
served index) and measured like the library arms.

k' bracket (funnel specs on an augmented corpus): the copies are easier distractors than as many more real
sentences would be (``_vectors.realism``), so the k' tuned on the augmented corpus is optimistic. The
bracket also tunes k' on an index of the real vectors alone and measures the funnel at that k' grown in
proportion to the corpus, ``k'_real * n / n_real``: a conservative k' (with real data the true top 10 move
further into the tail as n grows, so shortlist ranks grow less than n).
"""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from _common import console
from _search_bench import settle, timed
from _speed_methods import K, measure


def mrlkit_searcher(index: Any, mode: str, k_prime: int | None = None, ef: int | None = None) -> Any:
    def search(q: np.ndarray) -> np.ndarray:
        ids, _ = index.search_vectors(q, k=K, mode=mode, k_prime=k_prime, ef=ef)
        return np.asarray(ids, dtype=np.int64)

    return search


def parse_spec(spec: str) -> tuple[str, int, bool]:
    """``kind:dim[:hnsw]`` -> (kind, dim, hnsw)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("float", "int8", "binary") or not parts[1].isdigit():
        raise SystemExit(f"error: bad funnel spec {spec!r}; fix: kind:dim[:hnsw], kind float|int8|binary")
    if len(parts) == 3 and parts[2] != "hnsw":
        raise SystemExit(f"error: bad funnel spec {spec!r}; fix: the third part can only be 'hnsw'")
    return parts[0], int(parts[1]), len(parts) == 3


def shortlist_bytes(kind: str, dim: int) -> int:
    """Bytes per vector of a ``dim``-dim shortlist stored as ``kind``."""
    return {"binary": dim // 8, "int8": dim, "float": 4 * dim}[kind]


def _config(spec: str, args: argparse.Namespace) -> Any:
    from mrlkit.search import IndexConfig

    kind, dim, hnsw = parse_spec(spec)
    return IndexConfig(
        shortlist_dim=dim,
        quantization=kind,
        full_dtype="fp16",
        hnsw=hnsw,
        hnsw_m=args.hnsw_m,
        hnsw_ef_construction=args.hnsw_ef_construction,
    )


def _build(path: Path, corpus: np.ndarray, cfg: Any) -> tuple[float, float]:
    from mrlkit.search import Index

    shutil.rmtree(path, ignore_errors=True)
    ids = [str(i) for i in range(len(corpus))]
    _, wall, cpu = timed(lambda: Index.from_vectors(path, ids, corpus, config=cfg))
    return wall, cpu


def real_k_prime(spec: str, corpus: np.ndarray, n_real: int, data: dict, args: argparse.Namespace) -> int:
    """Funnel k' tuned on an index of the real rows only, without a graph (the bracket's starting point)."""
    from mrlkit.search import Index, tune_index

    kind, dim, _ = parse_spec(spec)
    path = Path(args.work_dir) / f"{kind}-{dim}-real"
    _build(path, corpus[:n_real], _config(f"{kind}:{dim}", args))
    tuned = tune_index(Index.open(path), data["tune"], recall=args.tune_recall, k=K)
    shutil.rmtree(path, ignore_errors=True)
    return int(tuned["k_prime"])


def run_funnel(
    spec: str, corpus: np.ndarray, n_real: int, data: dict[str, np.ndarray], args: argparse.Namespace
) -> dict[str, Any]:
    """Build an mrlkit index for ``spec``, tune k' (and ef) on the tuning queries, measure; bracket k'.

    On an augmented corpus, k' is first tuned on the real rows alone (cheap); a spec whose k' there exceeds
    ``--max-k-prime-share`` of the real rows cannot come near the targets, and is reported as skipped
    (``{"config", "skipped", "k_prime_real_only"}``) rather than tuned and timed at full scale.
    """
    from mrlkit.search import Index, tune_index

    kind, dim, hnsw = parse_spec(spec)
    k_real = None
    if n_real < len(corpus) and (args.bracket or args.max_k_prime_share < 1):
        k_real = real_k_prime(spec, corpus, n_real, data, args)
        console.print(f"  {spec}: k' on the {n_real:,} real rows alone: {k_real}")
        if k_real > args.max_k_prime_share * n_real:
            reason = f"k' {k_real} > {args.max_k_prime_share} x {n_real} real rows (--max-k-prime-share)"
            console.print(f"  {spec}: skipped, {reason}")
            return {"config": spec, "skipped": reason, "k_prime_real_only": k_real}
    path = Path(args.work_dir) / spec.replace(":", "-")
    build_s, build_cpu = _build(path, corpus, _config(spec, args))
    # mrlkit's tuner on the tuning queries (never the evaluation ones); searches then use its k'/ef
    tuned = tune_index(Index.open(path), data["tune"], recall=args.tune_recall, k=K)
    console.print(f"  {spec}: tuned {tuned}")
    before = settle()  # resident memory of a freshly opened, tuned index while it serves the queries
    index = Index.open(path)
    mode = "hnsw" if hnsw else "funnel"
    row = measure(spec, mrlkit_searcher(index, mode), data)
    after = settle()
    disk = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    row.update(
        config=spec,
        k_prime=tuned["k_prime"],
        ef=tuned.get("ef"),
        tuned=tuned,
        build_s=round(build_s, 2),
        build_cpu_s=round(build_cpu, 2),
        ram_bytes_per_vector=shortlist_bytes(kind, dim) + (2 * args.hnsw_m * 4 if hnsw else 0),  # + links
        rss_anon_delta_bytes_per_vector=round((after["anon"] - before["anon"]) / len(corpus), 1),
        rss_file_delta_bytes_per_vector=round((after["file"] - before["file"]) / len(corpus), 1),
        disk_bytes_per_vector=round(disk / len(corpus), 1),
    )
    if args.bracket and k_real is not None and not hnsw:
        k_up = min(len(corpus), math.ceil(k_real * len(corpus) / n_real))
        console.print(f"  {spec}: conservative k' at {len(corpus):,} rows: {k_up}")
        upper = measure(f"{spec}@k'_upper", mrlkit_searcher(index, mode, k_prime=k_up), data)
        row["k_prime_upper"] = {"k_prime_real_only": k_real, "k_prime": k_up, **upper}
    del index
    if not args.keep_indexes:
        shutil.rmtree(path, ignore_errors=True)
    return row
