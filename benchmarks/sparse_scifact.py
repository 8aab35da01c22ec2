"""Sparse encoders on SciFact (train -> test): SPLADE-tiny base and tuned, inference-free SPLADE, CSR.

Trains three sparse models with ``mrlkit finetune`` on the SciFact train qrels (checkpoints picked on a
dev split of the train queries, never on test) and scores, on the 300 test queries over the whole corpus:
SPLADE-tiny as shipped and tuned, inference-free SPLADE tuned, CSR on the tuned dense MiniLM at k = 8 to
128 active dims, BM25, the tuned dense MiniLM at full dim and truncated to the bytes per vector of each
sparse model, and RRF fusions (dense + sparse, dense + sparse + BM25). Each system: nDCG@10, MRR@10,
Recall@100, mean active dims (query, document), bytes per document vector, documents encoded per
second, query encoding time and search queries per second (one query at a time, top 100, encoding
excluded). Writes benchmarks/results/<name>.json and <name>.png (nDCG@10 against bytes per vector).

    python benchmarks/sparse_scifact.py --data ../shared/datasets/scifact \\
        --dense-model runs/scifact_default/model --name sparse_scifact

Targets (issue #19): tuned SPLADE-tiny >= base + 5 nDCG@10 points; dense + sparse RRF >= the best
single system + 2 points. Smoke run: --train-queries 64 --corpus-size 400 --test-queries 30 --epochs 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS,
    add_overwrite_argument,
    check_writable,
    command_line,
    console,
    table,
    write_result,
)
from _sparse_bench import (
    COLUMNS,
    dense_bytes,
    dense_top_k,
    equal_bytes_dim,
    fuse_rrf,
    keep_top_k,
    mean_active,
    plot,
    reuse_state,
    scores_of,
    sparse_bytes,
    subset_beir,
    summary_rows,
    targets,
    timed,
    to_run,
    truncate_normalise,
)
from rich.console import Console

CSR_KS = (8, 16, 32, 64, 128)
TOP = 100  # hits per query: Recall@100 and the fusion candidates


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="SciFact BEIR folder (qrels/train.tsv, test.tsv)")
    p.add_argument("--dense-model", default="runs/scifact_default/model", help="tuned dense MiniLM folder")
    p.add_argument("--output-dir", type=Path, default=None, help="default: runs/sparse_scifact/<name>")
    p.add_argument("--epochs", type=float, default=4, help="SPLADE and inference-free SPLADE epochs")
    p.add_argument("--csr-epochs", type=float, default=2)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of the SPLADE document encoders")
    p.add_argument("--csr-lr", type=float, default=5e-5)
    p.add_argument("--csr-k", type=int, default=32, help="CSR active dims in training")
    p.add_argument(
        "--csr-autoencoder-lr", type=float, default=None, help="CSR autoencoder's rate (default: --csr-lr)"
    )
    p.add_argument("--hard-negatives", type=int, default=0, help="SPLADE types: mined negatives per pair")
    p.add_argument(
        "--teacher", default=None, help="SPLADE types: cross-encoder to distil (needs --hard-negatives)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--eval-corpus-size", type=int, default=1000, help="dev corpus cap per evaluation")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-queries", type=int, default=None, help="cap on train pairs (smoke runs)")
    p.add_argument("--corpus-size", type=int, default=None, help="cap on documents (smoke runs)")
    p.add_argument("--test-queries", type=int, default=None, help="cap on test queries (smoke runs)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="load models an earlier run left in --output-dir; resume its interrupted training",
    )
    p.add_argument("--name", default="sparse_scifact", help="results file name")
    add_overwrite_argument(p)
    return p.parse_args()


def train(args: argparse.Namespace, data: Path, out: Path, kind: str, **extra: Any) -> tuple[str, dict]:  # noqa: ANN401
    """Fine-tune one sparse model (or reuse it); its model folder and training facts."""
    from mrlkit import FinetuneConfig, finetune

    folder = out / kind
    state = reuse_state(folder) if args.reuse else "train"
    if state == "load":
        console.print(f"reusing {folder / 'model'}")
        return str(folder / "model"), {"reused": True}
    settings = dict(
        data=str(data),
        model_type=kind.replace("_", "-"),
        output_dir=str(folder),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_seq_length=args.max_seq_length,
        eval_corpus_size=args.eval_corpus_size,
        max_train_rows=args.train_queries,
        evaluate_base=False,
        seed=args.seed,
        best_metric="ndcg@10",
    )
    settings.update(extra)
    resumed = state == "resume"
    if resumed:
        console.print(f"resuming the interrupted training in {folder}")
    result = finetune(FinetuneConfig.load(None, **settings, resume=resumed))
    meta = result.report.meta
    own = next(iter(result.report.base.values()))  # the finetune's own test score: a cross-check
    facts = {
        "train_seconds": meta.get("train_seconds"),
        "best_checkpoint": meta.get("best_checkpoint"),
        "finetune_report_ndcg@10": round(own["ndcg@10"], 4),
        "settings": {k: v for k, v in settings.items() if k not in ("data", "output_dir")},
    }
    if resumed:  # train_seconds then counts only the resumed part
        facts["resumed"] = True
    return str(result.model_path), facts


def encode_sparse(model: Any, texts: list[str], *, query: bool, max_active_dims: int | None = None) -> Any:  # noqa: ANN401
    from mrlkit.search.sparse import to_csr

    encode = model.encode_query if query else model.encode_document
    out = encode(
        texts,
        batch_size=32,
        convert_to_sparse_tensor=True,
        show_progress_bar=False,
        max_active_dims=max_active_dims,
    )
    return to_csr(out)


def search_sparse(docs: Any, queries: Any) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: ANN401
    """Top 100 per query through mrlkit's posting-gather kernel, one query at a time; and its q/s."""
    from mrlkit.search.sparse import top_k_postings

    inverted = docs.T.tocsr()
    found, seconds = timed(
        lambda: [top_k_postings(inverted, queries[i], TOP) for i in range(queries.shape[0])]
    )
    rows = np.vstack([r for r, _ in found])
    scores = np.vstack([s for _, s in found])
    return rows, scores, queries.shape[0] / max(seconds, 1e-9)


def sparse_system(model_path: str, ctx: dict[str, Any], caps: tuple[int | None, ...] = (None,)) -> dict:
    """Encode corpus and queries with a sparse model and score it at each cap on active dims."""
    from mrlkit.evaluation.explain import load_sparse_encoder

    model = load_sparse_encoder(model_path)
    model.max_seq_length = ctx["max_seq_length"]
    top = max((c for c in caps if c is not None), default=None)
    docs, doc_s = timed(lambda: encode_sparse(model, ctx["doc_texts"], query=False, max_active_dims=top))
    queries, query_s = timed(
        lambda: encode_sparse(model, ctx["query_texts"], query=True, max_active_dims=top)
    )
    if top is not None:  # top-k of the widest encoding must equal encoding at k: checked on a few docs
        k = min(c for c in caps if c is not None)
        direct = encode_sparse(model, ctx["doc_texts"][:16], query=False, max_active_dims=k)
        gap = abs(direct - keep_top_k(docs[:16], k)).max() if direct.nnz else 0.0
        if gap > 1e-4:
            raise RuntimeError(f"top-{k} of the k={top} encoding differs from encoding at k={k} by {gap}")
    out = {}
    for cap in caps:
        d = docs if cap is None else keep_top_k(docs, cap)
        q = queries if cap is None else keep_top_k(queries, cap)
        rows, scores, qps = search_sparse(d, q)
        run = to_run(rows, scores, ctx["doc_ids"], ctx["query_ids"])
        out[cap] = {
            **scores_of(run, ctx["qrels"]),
            "active_dims_query": round(mean_active(q), 1),
            "active_dims_doc": round(mean_active(d), 1),
            "bytes_per_vector": round(sparse_bytes(mean_active(d)), 1),
            "docs_per_second": round(len(ctx["doc_texts"]) / doc_s, 1),
            "query_encode_ms": round(1000 * query_s / len(ctx["query_texts"]), 3),
            "search_qps": round(qps, 1),
            "run": run,
        }
    return out


def dense_system(args: argparse.Namespace, ctx: dict[str, Any], work: Path) -> dict[str, Any]:
    """The tuned dense model: vectors, an mrlkit index (exact search, BM25) and timings."""
    from sentence_transformers import SentenceTransformer

    from mrlkit.search import Index, IndexConfig
    from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25

    model = SentenceTransformer(args.dense_model, device="cpu")
    model.max_seq_length = args.max_seq_length

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    docs, doc_s = timed(lambda: encode(ctx["doc_texts"]))
    queries, query_s = timed(lambda: encode(ctx["query_texts"]))
    cfg = IndexConfig(shortlist_dim=min(64, docs.shape[1]), quantization="float", full_dtype="fp32")
    idx = Index.from_vectors(work / "index", ctx["doc_ids"], docs, cfg, ctx["doc_texts"], overwrite=True)
    build_bm25(idx, BM25Config(language="en"))
    bm25 = BM25Searcher.load(idx)
    found, bm25_s = timed(lambda: [bm25.search([t], TOP) for t in ctx["query_texts"]])
    bm25_run = to_run(
        np.vstack([r for r, _ in found]), np.vstack([s for _, s in found]), ctx["doc_ids"], ctx["query_ids"]
    )
    found, dense_s = timed(
        lambda: [idx.search_vectors(queries[i : i + 1], TOP, "exact") for i in range(len(queries))]
    )
    run = to_run(
        np.vstack([r for r, _ in found]), np.vstack([s for _, s in found]), ctx["doc_ids"], ctx["query_ids"]
    )
    n = len(ctx["query_texts"])
    return {
        "docs": docs,
        "queries": queries,
        "bm25": {**scores_of(bm25_run, ctx["qrels"]), "search_qps": round(n / bm25_s, 1), "run": bm25_run},
        "full": {
            **scores_of(run, ctx["qrels"]),
            "dim": docs.shape[1],
            "bytes_per_vector": dense_bytes(docs.shape[1]),
            "docs_per_second": round(len(ctx["doc_texts"]) / doc_s, 1),
            "query_encode_ms": round(1000 * query_s / n, 3),
            "search_qps": round(n / dense_s, 1),
            "run": run,
        },
    }


def truncated(dense: dict[str, Any], dim: int, ctx: dict[str, Any]) -> dict[str, Any]:
    """The dense model at its leading ``dim`` dims (re-normalised), exact search."""
    docs = truncate_normalise(dense["docs"], dim)
    queries = truncate_normalise(dense["queries"], dim)
    rows, scores = dense_top_k(docs, queries, TOP)
    run = to_run(rows, scores, ctx["doc_ids"], ctx["query_ids"])
    return {**scores_of(run, ctx["qrels"]), "dim": dim, "bytes_per_vector": dense_bytes(dim)}


def add_equal_bytes_dense(results: dict[str, Any], dense: dict[str, Any], ctx: dict[str, Any]) -> None:
    """Score the dense model truncated to each sparse system's bytes per vector (and the Matryoshka dims)."""
    full_dim = dense["full"]["dim"]
    dims: dict[int, dict[str, Any]] = {}
    for group in ("splade", "inference_free", "csr"):
        for row in results[group].values():
            dim = equal_bytes_dim(row["bytes_per_vector"], full_dim)
            dims.setdefault(dim, truncated(dense, dim, ctx))
            row["equal_bytes_dense"] = {m: dims[dim][m] for m in ("dim", "bytes_per_vector", "ndcg@10")}
    for dim in (16, 32, 64, 128, 256):  # the Matryoshka dims as well, for the plot's dense line
        if dim < full_dim:
            dims.setdefault(dim, truncated(dense, dim, ctx))
    results["dense"]["truncated"] = {str(d): dims[d] for d in sorted(dims)}


def add_fusion(results: dict[str, Any], csr: str, qrels: dict[str, dict[str, int]]) -> None:
    """RRF of dense with each tuned sparse model (and BM25); then drop the runs from ``results``."""
    runs = {
        "dense": results["dense"]["run"],
        "splade_tuned": results["splade"]["tuned"]["run"],
        "inference_free": results["inference_free"]["tuned"]["run"],
        csr: results["csr"][csr.removeprefix("csr_")]["run"],
        "bm25": results["bm25"]["run"],
    }
    hybrid = {}
    for sparse_name in ("splade_tuned", "inference_free", csr):
        for names in (("dense", sparse_name), ("dense", sparse_name, "bm25")):
            hybrid["+".join(names)] = scores_of(fuse_rrf([runs[n] for n in names]), qrels)
    hybrid["dense+bm25"] = scores_of(fuse_rrf([runs["dense"], runs["bm25"]]), qrels)
    results["hybrid_dense_sparse"] = hybrid["dense+splade_tuned"]
    results["hybrid_dense_sparse_bm25"] = hybrid["dense+splade_tuned+bm25"]
    results["hybrid"] = hybrid
    for group in ("splade", "inference_free", "csr"):
        for row in results[group].values():
            row.pop("run")
    for row in (results["bm25"], results["dense"]):
        row.pop("run")


def main() -> None:
    from mrlkit.data.beir import read_corpus, read_qrels, read_queries

    args = parse_args()
    check_writable(args.name, args.overwrite)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = args.output_dir or Path("runs") / "sparse_scifact" / args.name
    out.mkdir(parents=True, exist_ok=True)
    data = subset_beir(args.data, out / "data", args.corpus_size, args.test_queries)
    corpus = read_corpus(data / "corpus.jsonl")
    all_queries = read_queries(data / "queries.jsonl")
    qrels: dict[str, dict[str, int]] = {}
    for _, q, d, grade in read_qrels(data / "qrels" / "test.tsv", all_queries, corpus):
        if grade > 0:
            qrels.setdefault(q, {})[d] = grade
    ctx = {
        "doc_ids": list(corpus),
        "doc_texts": list(corpus.values()),
        "query_ids": list(qrels),
        "query_texts": [all_queries[q] for q in qrels],
        "qrels": qrels,
        "max_seq_length": args.max_seq_length,
    }
    console.print(f"{len(corpus)} documents, {len(qrels)} test queries; training in {out}")
    dense = dense_system(args, ctx, out)
    models, training = {}, {}
    splade_extra: dict[str, Any] = {"hard_negatives": args.hard_negatives, "teacher": args.teacher}
    if args.teacher and args.hard_negatives > 1:
        splade_extra["hard_negatives_layout"] = "n-tuple"  # one row per pair, as the selection run had
    for kind, extra in (
        ("splade", splade_extra),
        ("inference_free_splade", splade_extra),
        (
            "csr",
            {
                "model": args.dense_model,
                "csr_k": args.csr_k,
                "dims": [args.csr_k],
                "epochs": args.csr_epochs,
                "learning_rate": args.csr_lr,
                "csr_learning_rate": args.csr_autoencoder_lr,
            },
        ),
    ):
        models[kind], training[kind] = train(args, data, out, kind, **extra)
    results: dict[str, Any] = {
        "splade": {
            "base": sparse_system("splade-tiny", ctx)[None],
            "tuned": sparse_system(models["splade"], ctx)[None],
        },
        "inference_free": {"tuned": sparse_system(models["inference_free_splade"], ctx)[None]},
        "csr": {f"k{k}": row for k, row in sparse_system(models["csr"], ctx, CSR_KS).items()},
        "bm25": dense["bm25"],
        "dense": dense["full"],
    }
    add_equal_bytes_dense(results, dense, ctx)
    add_fusion(results, f"csr_k{args.csr_k}", qrels)
    results["targets"] = targets(results)
    wide = Console(width=max(console.width, 170))  # eleven columns: do not squeeze them to 80
    wide.print(table("SciFact test: sparse, dense and fused", COLUMNS, summary_rows(results)))
    console.print(results["targets"])
    png = plot(results, RESULTS / f"{args.name}.png")
    write_result(
        args.name,
        {
            **results,
            "data": {"documents": len(corpus), "test_queries": len(qrels), "source": str(data)},
            "dense_model": args.dense_model,
            "training": training,
            "plot": f"benchmarks/results/{png.name}",
            "settings": {k: str(v) for k, v in vars(args).items() if k not in ("name", "overwrite")},
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )
    if data != args.data:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
