"""Benchmark 2 of issue #17: search speed, recall and memory, up to 10^6 vectors of 384 dims.

Compares, in one process, on the same queries and thread count, each method tuned to the same recall@10
on tuning queries and measured on other queries: exact fp32 brute force (numpy BLAS matmul and faiss
``IndexFlatIP``), faiss HNSW and usearch HNSW over the full vectors (efSearch tuned), faiss IVF-Flat and
IVF-PQ fast-scan refined by the full vectors (nprobe and refine factor tuned), and mrlkit's funnel
(float / int8 / binary shortlists, k' tuned by ``tune_index``) and HNSW over the shortlist. Reports
single-query latency and QPS, batch-of-64 QPS, recall@10 against exact, RAM bytes per vector, build time,
and ratios against exact and against the best alternative.

Vectors: all-MiniLM-L6-v2 encodings (``--model``) of every real sentence the shared corpora give
(benchmarks/_vectors.py, 97,383), grown to ``--scale`` by copies of the real set with every dimension's
sign flipped at random per copy (``_vectors.augment``: an isometry that keeps each vector's Matryoshka
prefix norms; no copy vector is near a real one; checked against real sentences by
search_augmentation_check.py), for speed only: quality is measured in search_quality.py. Queries: the
real queries of SciFact, CISI and Vaswani (none is in the corpus), split into tuning and evaluation sets.
How the copies compete with real sentences for the exact top 10 is recorded (``vectors.realism``), and
each funnel is also measured at a conservative k' (``_speed_funnel``).

    # the real run (a quiet machine; about 1.5 h on 2 cores):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/search_speed.py --scale 1M
    python benchmarks/search_speed.py --name search_speed_smoke  # 10k real + 10k copies: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_overwrite_argument, check_writable, command_line, console, write_result
from _search_bench import exact_topk, set_threads
from _speed_funnel import parse_spec, run_funnel
from _speed_methods import FOUND, K, run_ann, run_exact, synthetic
from _speed_report import add_ratios, headline, print_table, targets

#: --funnel at 10^5 vectors and more, and below (a smoke run)
FUNNEL_FULL = "int8:128,int8:64,float:64,binary:256,binary:128,binary:64,int8:128:hnsw"
FUNNEL_SMALL = "int8:128,binary:128,int8:128:hnsw"
SMALL = 100_000


def parse_scale(text: str) -> int:
    """``1M``, ``100k``, ``20000`` or ``1e6`` -> a vector count."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not m or float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()] < 1:
        raise argparse.ArgumentTypeError(f"bad --scale {text!r}; fix: a count such as 20k, 1M or 250000")
    return int(round(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]))


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Corpus (real, then reflected copies) and query vectors, and a description of where they came from."""
    from _vectors import CHUNK, augment, corpus_texts, encode_cached, query_texts

    want = min(args.scale, args.max_real or args.scale)
    whole = -(-want // CHUNK) * CHUNK  # whole cache chunks: a cut chunk would be encoded again
    if args.synthetic:
        real, queries = synthetic(want, 1310)
        source: dict[str, Any] = {"kind": "synthetic gaussian mixture (test mode)"}
    else:
        texts = corpus_texts()
        queries = encode_cached(args.model, query_texts(), "queries", cache_only=args.cached_only)
        real = encode_cached(args.model, texts[:whole], "corpus", cache_only=args.cached_only)[:want]
        source = {
            "kind": "real sentences (benchmarks/_vectors.py)",
            "model": args.model,
            "n_real_texts_available": len(texts),
            "n_real_used": len(real),
        }
        if len(real) < min(want, len(texts)):
            console.print(f"[yellow]only {len(real):,} real vectors are cached (--cached-only)[/]")
    corpus, info = augment(real, args.scale, seed=args.seed, axes=args.augment)
    return np.ascontiguousarray(corpus), queries, {**source, "augmentation": info}


def _checkpoint(args: argparse.Namespace, res: dict[str, Any]) -> None:
    """Results so far, in the work dir: a long run stopped midway still leaves its measurements."""
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.work_dir) / f"{args.name}.partial.json").write_text(json.dumps(res, indent=1, default=str))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--scale", type=parse_scale, default=20_000, help="corpus vectors (20k, 1M, ...); default: smoke"
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for faiss, BLAS, torch, usearch")
    p.add_argument(
        "--max-real",
        type=int,
        default=None,
        help="real vectors to use at most (default: all; below 100k: half)",
    )
    p.add_argument("--cached-only", action="store_true", help="use only the real vectors already encoded")
    p.add_argument("--synthetic", action="store_true", help="Gaussian-mixture vectors (tests: no model)")
    p.add_argument("--augment", default="dims", choices=["dims", "pca"], help="reflection axes of the copies")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument(
        "--funnel", default=None, help=f"mrlkit kind:dim[:hnsw] specs (default {FUNNEL_FULL}; smoke: fewer)"
    )
    p.add_argument("--usearch-dtypes", default="f32", help="usearch HNSW over full vectors ('' = skip)")
    p.add_argument("--ivf", default="flat,pq", help="faiss IVF arms: flat, pq ('' = skip)")
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument(
        "--hnsw-ef-construction", type=int, default=40, help="efConstruction of every faiss/mrlkit HNSW graph"
    )
    p.add_argument("--recall", type=float, default=0.99, help="recall@10 target of the checks")
    p.add_argument("--tune-recall", type=float, default=0.995, help="recall@10 every knob is tuned to")
    p.add_argument("--n-eval", type=int, default=None, help="evaluation queries (batch-of-64 timing)")
    p.add_argument("--n-single", type=int, default=None, help="of which timed one at a time")
    p.add_argument("--n-tune", type=int, default=310, help="tuning queries, disjoint from the others")
    p.add_argument("--no-bracket", dest="bracket", action="store_false", help="skip the conservative k'")
    p.add_argument(
        "--max-k-prime-share",
        type=float,
        default=0.05,
        help="skip a funnel whose k' on the real rows alone exceeds this share of them (1: never skip)",
    )
    p.add_argument("--timing", default="wall", choices=["wall", "cpu"], help="what the targets' 'met' uses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="runs/search_speed_work", help="where the mrlkit indexes are built")
    p.add_argument("--keep-indexes", action="store_true")
    p.add_argument("--skip-ann", action="store_true", help="no library ANN arms (that target is skipped)")
    p.add_argument(
        "--from-partial", action="store_true", help="write the results of a stopped run from its checkpoint"
    )
    p.add_argument("--save-ids", default=None, help="npz with the vectors, queries and results (tests)")
    p.add_argument("--name", default="search_speed", help="results file name")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    small = args.scale < SMALL
    if small and args.max_real is None:
        args.max_real = args.scale // 2  # a smoke run still grows its corpus by copies
    args.funnel = args.funnel or (FUNNEL_SMALL if small else FUNNEL_FULL)
    for spec in [s for s in args.funnel.split(",") if s]:
        parse_spec(spec)
    args.n_eval = args.n_eval or (200 if small else 1000)
    args.n_single = args.n_single or (50 if small else 200)
    return args


def split_queries(queries: np.ndarray, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation and tuning queries: a seeded permutation, evaluation first, never overlapping."""
    order = np.random.default_rng(args.seed).permutation(len(queries))
    n_eval = min(args.n_eval, len(queries) // 2)
    return queries[order[:n_eval]], queries[order[n_eval:]][: args.n_tune]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v not in os.environ]
    command = ("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " if len(unset) == 2 else "") + command_line()
    command = command.replace(" --from-partial", "")
    check_writable(args.name, args.overwrite, command)
    console.width = max(console.width, 160)
    if args.from_partial:
        return from_partial(args, command)
    threads = set_threads(args.threads)
    console.print(f"threads: {args.threads}; BLAS: {threads['blas']}; env: {threads['env']}")
    corpus, queries, source = load_vectors(args)
    n_real = source["augmentation"]["n_real"]
    console.print(f"vectors: {corpus.shape}; {source}")
    batch, tune_q = split_queries(queries, args)
    single = batch[: args.n_single]
    start = time.perf_counter()
    truth_b, truth_t = exact_topk(corpus, batch, K), exact_topk(corpus, tune_q, K)
    seconds = time.perf_counter() - start
    console.print(f"reference top-10 for {len(batch) + len(tune_q)} queries: {seconds:.1f}s")
    from _vectors import realism

    source["realism"] = realism(corpus, n_real, batch, truth_b)
    console.print(f"how the copies compete (exact top 10 of the evaluation queries): {source['realism']}")
    data = {
        "single": single,
        "batch": batch,
        "tune": tune_q,
        "truth_single": truth_b[: len(single)],
        "truth_batch": truth_b,
        "truth_tune": truth_t,
    }
    res: dict[str, Any] = {
        "n_vectors": len(corpus),
        "dim": corpus.shape[1],
        "k": K,
        "recall_target": args.recall,
        "tune_recall": args.tune_recall,
        "queries": {"eval": len(batch), "single": len(single), "tune": len(tune_q)},
        "vectors": source,
        "threads": threads,
    }
    res.update(run_exact(corpus, data))  # the cheap parts first; each step is checkpointed
    _checkpoint(args, res)
    res["funnel_configs"], res["funnel_skipped"] = [], []
    for spec in [s for s in args.funnel.split(",") if s]:
        row = run_funnel(spec, corpus, n_real, data, args)
        res["funnel_skipped" if "skipped" in row else "funnel_configs"].append(row)
        _checkpoint(args, res)
    res["hnsw_full"] = None
    for name, row in [] if args.skip_ann else run_ann(corpus, data, args):
        res[name] = row
        _checkpoint(args, res)
    if args.save_ids:
        np.savez(args.save_ids, corpus=corpus, single=single, truth_single=data["truth_single"], **FOUND)
    return finish(res, args, command)


def finish(res: dict[str, Any], args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Ratios, the headline funnel row, targets, the table and the results file."""
    add_ratios(res, args.recall)
    if res["funnel_configs"]:
        res["funnel"] = headline(res["funnel_configs"], args.recall, 128)
        res["targets"] = targets(res, args.recall, args.timing)
    else:
        res["funnel"], res["targets"] = None, {"timing": args.timing, "note": "no funnel was measured"}
    print_table(res, args.threads, K)
    for row in res["funnel_skipped"]:
        console.print(f"skipped mrlkit {row['config']}: {row['skipped']}")
    for name, check in res["targets"].items():
        if isinstance(check, dict):
            console.print(f"{name}: {'met' if check['met'] else 'NOT met'} {check}")
    write_result(args.name, {**res, "command": command}, overwrite=args.overwrite)
    return res


def from_partial(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The results of a run stopped early, from its checkpoint, marked ``stopped_early``."""
    res = json.loads((Path(args.work_dir) / f"{args.name}.partial.json").read_text())
    res.setdefault("funnel_configs", [])
    res.setdefault("funnel_skipped", [])
    res.setdefault("hnsw_full", None)
    measured = [f["config"] for f in res["funnel_configs"] + res["funnel_skipped"]]
    res["stopped_early"] = {"requested_funnel": args.funnel, "funnel_done": measured}
    return finish(res, args, command)


if __name__ == "__main__":
    main()
