"""``mrlkit index bm25`` and ``mrlkit tune-fusion``: the lexical and hybrid side of an index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
IndexArg = Annotated[Path, typer.Argument(help="The index folder.")]


def bm25_command(
    index: IndexArg,
    language: Annotated[str, typer.Option(help="Stop words and stemming: en, de, fr, ..., zh, none.")] = "en",
    stem: Annotated[bool, typer.Option(help="Stem words (Snowball).")] = True,
    stopwords: Annotated[bool, typer.Option(help="Drop the language's stop words.")] = True,
    segmenter: Annotated[
        str, typer.Option(help="auto (bigram for zh/ko, else word), word, bigram (CJK pairs) or jieba.")
    ] = "auto",
    k1: Annotated[float, typer.Option(help="BM25 k1.")] = 1.5,
    b: Annotated[float, typer.Option(help="BM25 b.")] = 0.75,
    method: Annotated[str, typer.Option(help="lucene, robertson, atire, bm25l or bm25+.")] = "lucene",
) -> None:
    """Build (or rebuild) the BM25 part of an index from its stored texts, atomically."""
    from mrlkit.cli.app import _user_errors
    from mrlkit.search import Index
    from mrlkit.search.bm25 import BM25Config, build_bm25

    with _user_errors():
        cfg = BM25Config(language, stem, stopwords, segmenter, k1, b, method)
        rows = build_bm25(Index.open(index), cfg)
    console.print(f"BM25 over {rows} texts stored in {index}; search it with --mode hybrid")


def tune_fusion_command(
    index: IndexArg,
    queries: Annotated[Path, typer.Option(help="DEV queries (BEIR queries.jsonl); never your test queries.")],
    qrels: Annotated[Path, typer.Option(help="DEV qrels TSV (query-id, corpus-id, score).")],
    metric: Annotated[str, typer.Option(help="ndcg@K or recall@K to maximise.")] = "ndcg@10",
    dense_mode: Annotated[str, typer.Option(help="Dense side: exact, funnel or hnsw.")] = "funnel",
    candidates: Annotated[int, typer.Option(help="Hits taken from each retriever.")] = 100,
    retrievers: Annotated[
        str, typer.Option(help="Lists to fuse: dense, sparse (mrlkit index sparse), bm25; comma-separated.")
    ] = "dense,bm25",
    dry_run: Annotated[bool, typer.Option(help="Print the grid without storing the best setting.")] = False,
) -> None:
    """Pick hybrid fusion (RRF/DBSF) and weights on dev qrels and store them in the index."""
    from mrlkit.cli.app import _quiet_libraries, _user_errors
    from mrlkit.search import Index
    from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

    _quiet_libraries()
    with _user_errors():
        idx = Index.open(index)
        dev_queries, dev_qrels = read_dev_set(idx, queries, qrels)
        source = {"queries": str(queries), "qrels": str(qrels)}
        result = tune_fusion(
            idx, dev_queries, dev_qrels, metric, dense_mode, candidates, not dry_run, source, retrievers
        )
    best = result["settings"]
    weights = " ".join(f"{n}={w}" for n, w in zip(best["retrievers"], best["weights"], strict=True))
    console.print(
        f"{result['queries']} dev queries; RRF at equal weights: {metric} {result['baseline']:.4f}; best: "
        f"{best['method']} {weights}: {result['score']:.4f}" + ("" if dry_run else f" (stored in {index})")
    )


def register(app: typer.Typer) -> None:
    """Add ``index bm25`` and ``tune-fusion`` to the ``mrlkit`` app."""
    from mrlkit.cli.search import index_app

    index_app.command("bm25")(bm25_command)
    app.command("tune-fusion")(tune_fusion_command)
