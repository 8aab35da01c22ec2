"""Where a funnel query's time goes (issue #17): the shortlist scan, the full-dim rescore, the rest.

search_speed.py measures whole queries. This probe rebuilds the same corpus (real MiniLM sentence vectors
grown by sign-flip copies, ``search_speed.load_vectors``), builds one mrlkit index per ``kind:dim:k'``
spec, and times each single query's phases separately, in wall and CPU time: ``Shortlist.search`` at k'
(the faiss scan of every shortlist code plus its top-k' heap), the same scan at k = 10 (the heap's share),
``FullVectors.rescore`` of the k' candidates (memory-mapped fp16 rows gathered and scored), and exact numpy
search over the fp32 vectors as the reference. The k' values are the ones search_speed.py tuned, passed in.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/search_profile.py --scale 1M \
        --specs int8:128:847,binary:256:1632
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from _search_bench import set_threads
from search_speed import load_vectors, parse_scale


def _phase(fn: Callable[[int], Any], n: int) -> dict[str, float]:
    """Median and mean wall / CPU milliseconds of ``fn(i)`` for each query ``i`` (after one warm-up call)."""
    fn(0)
    wall, cpu = [], []
    for i in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(i)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    w, c = 1e3 * np.array(wall), 1e3 * np.array(cpu)
    return {
        "wall_ms_p50": float(np.median(w)),
        "wall_ms_mean": float(w.mean()),
        "cpu_ms_mean": float(c.mean()),
    }


def profile_spec(spec: str, corpus: np.ndarray, queries: np.ndarray, work: Path) -> dict[str, Any]:
    """Phase timings of one ``kind:dim:k'`` funnel."""
    from mrlkit.search import Index, IndexConfig

    kind, dim, k_prime = spec.split(":")
    path = work / f"profile-{kind}-{dim}"
    shutil.rmtree(path, ignore_errors=True)
    cfg = IndexConfig(shortlist_dim=int(dim), quantization=kind, full_dtype="fp16")
    Index.from_vectors(path, [str(i) for i in range(len(corpus))], corpus, config=cfg)
    index = Index.open(path)
    kp = int(k_prime)
    one = [queries[i : i + 1] for i in range(len(queries))]
    whole, _ = index.search_vectors(queries, k=10, mode="funnel", k_prime=kp)  # also opens the parts
    cands = [index.shortlist.search(q, kp)[1] for q in one]
    # the phases, run one after the other, give what a whole funnel query gives
    parts = [index.full.rescore(q, c, 10)[1][0] for q, c in zip(one, cands, strict=True)]
    agree = all(np.array_equal(p[p >= 0], w[w >= 0]) for p, w in zip(parts, whole, strict=True))
    n = len(one)
    row = {
        "spec": spec,
        "phases_give_the_funnel_result": agree,
        "shortlist_shards": index.shortlist.n_shards,
        "scan_at_k_prime": _phase(lambda i: index.shortlist.search(one[i], kp), n),
        "scan_at_10": _phase(lambda i: index.shortlist.search(one[i], 10), n),
        "rescore": _phase(lambda i: index.full.rescore(one[i], cands[i], 10), n),
        "whole_query": _phase(lambda i: index.search_vectors(one[i], k=10, mode="funnel", k_prime=kp), n),
        "shortlist_bytes_scanned": int(index.shortlist.ntotal * index.shortlist.code_size),
    }
    shutil.rmtree(path, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=parse_scale, default=parse_scale("1M"))
    p.add_argument("--specs", default="int8:128:847,binary:256:1632", help="kind:dim:k' funnels to profile")
    p.add_argument("--n-queries", type=int, default=100)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--cached-only", action="store_true", help="use only the real vectors already encoded")
    p.add_argument("--max-real", type=int, default=None, help="real vectors at most (the rest are copies)")
    p.add_argument("--synthetic", action="store_true", help="Gaussian-mixture vectors (tests: no model)")
    p.add_argument(
        "--shard-min-rows", type=int, default=None, help="override mrlkit's rows per shard (huge: one shard)"
    )
    p.add_argument("--work-dir", default="runs/search_profile_work")
    p.add_argument("--name", default="search_profile")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    args.augment, args.seed = "dims", 0
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v not in os.environ]
    command = ("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " if len(unset) == 2 else "") + command_line()
    check_writable(args.name, args.overwrite, command)
    threads = set_threads(args.threads)
    from mrlkit.search import funnel

    if args.shard_min_rows:  # an A/B of the sharded shortlist scan
        funnel.SHARD_MIN_ROWS = args.shard_min_rows
    corpus, queries, source = load_vectors(args)
    queries = queries[np.random.default_rng(0).permutation(len(queries))[: args.n_queries]]
    console.print(f"vectors {corpus.shape}, {len(queries)} single queries, {args.threads} threads")

    def exact(i: int) -> Any:
        scores = queries[i : i + 1] @ corpus.T
        return np.argpartition(-scores, 10, axis=1)[:, :10]

    res: dict[str, Any] = {
        "n_vectors": len(corpus),
        "vectors": {k: source[k] for k in ("kind", "model") if k in source},
        "threads": threads,
        "shard_min_rows": funnel.SHARD_MIN_ROWS,
        "exact_numpy_fp32": _phase(exact, len(queries)),
        "funnels": [],
    }
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for spec in [s for s in args.specs.split(",") if s]:
        res["funnels"].append(profile_spec(spec, corpus, queries, work))
    rows = [["exact numpy fp32", "-", f"{res['exact_numpy_fp32']['wall_ms_p50']:.2f}", "-", "-", "-"]]
    for f in res["funnels"]:
        rows.append(
            [
                f["spec"],
                f"{f['shortlist_bytes_scanned'] / 1e6:.0f} MB",
                f"{f['whole_query']['wall_ms_p50']:.2f}",
                f"{f['scan_at_k_prime']['wall_ms_p50']:.2f}",
                f"{f['scan_at_10']['wall_ms_p50']:.2f}",
                f"{f['rescore']['wall_ms_p50']:.2f}",
            ]
        )
    cols = ["arm", "codes scanned", "query ms", "scan@k' ms", "scan@10 ms", "rescore ms"]
    console.print(table("single-query phases (median wall ms)", cols, rows))
    res["command"] = command
    write_result(args.name, res, overwrite=args.overwrite)
    return res


if __name__ == "__main__":
    main()
