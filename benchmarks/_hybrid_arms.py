"""The systems ``hybrid_quality.py`` compares, and a reranker that scores each (query, document) once.

Every system returns, per test query, its top ``k`` index rows with their scores: BM25, dense exact,
dense funnel, RRF hybrid (k = 60, equal weights) and the weighted hybrid (fusion tuned on a dev set).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25
from mrlkit.search.hybrid import FusionSettings, fuse_runs, retrieve_runs
from mrlkit.search.metrics import mean_metric
from mrlkit.search.rerank import Reranker, mix_scores
from mrlkit.search.tune import tune_index

METRICS = ("ndcg@10", "recall@100")
Ranked = dict[str, list[int]]  # query id -> index rows, best first
Scored = list[tuple[int, float]]  # (index row, the system's score), best first


_OPENED: dict[Path, tuple[Index, float]] = {}


def dev_split(data: Path, fraction: float, seed: int) -> tuple[dict, dict[str, dict[str, int]], str]:
    """The dev split ``mrlkit finetune`` holds out of ``data``'s train qrels: query texts, qrels, source."""
    from mrlkit.data import load_data

    loaded = load_data(data, eval_fraction=fraction, seed=seed)
    dev = loaded.eval
    qrels = {q: dict.fromkeys(docs, 1) for q, docs in dev.relevant.items()}
    return {q: dev.queries[q] for q in qrels}, qrels, str(loaded.stats.get("eval_source"))


def open_or_build(path: Path, data: Path, model: str, tune_k: int = 0) -> tuple[Index, float]:
    """The index at ``path`` (queried with ``model``, whose fingerprint must match), else a new one.

    A new index has a 64-dim binary shortlist and English BM25. ``tune_k`` > 0 tunes its k' to
    recall@tune_k >= 0.99 against exact search on corpus pseudo-queries (``mrlkit index tune --k``; no
    judged query is used) unless it is tuned for that k already. Returns the index and the seconds it
    took to open, build and tune (an index is opened once per run).
    """
    import time

    if path in _OPENED:
        return _OPENED[path]
    start = time.perf_counter()
    if (path / "manifest.json").is_file():
        idx = Index.open(path, model=model)
        _ = idx.encoder  # refuses an index that another model built, before any work
    else:
        idx = Index.build(
            path, data, model=model, config=IndexConfig(shortlist_dim=64, quantization="binary")
        )
    if "bm25" not in idx.manifest.components:
        build_bm25(idx, BM25Config(language="en"))
    if tune_k > 0 and (idx.manifest.tuned or {}).get("k") != tune_k:
        tune_index(idx, recall=0.99, k=tune_k)
    _OPENED[path] = (idx, time.perf_counter() - start)
    return _OPENED[path]


def _scored(rows: Any, values: Any) -> list[Scored]:
    return [
        [(int(r), float(v)) for r, v in zip(row, vals, strict=True) if r >= 0]
        for row, vals in zip(rows, values, strict=True)
    ]


def system_runs(
    idx: Index, texts: list[str], weighted: FusionSettings, k: int = 100
) -> dict[str, list[Scored]]:
    """Each system's top ``k`` (row, score) per query (lists in ``texts`` order); queries encoded once."""
    vectors = idx.encoder.encode(texts, batch_size=idx.config.batch_size, query=True)
    out: dict[str, list[Scored]] = {"bm25": _scored(*BM25Searcher.load(idx).search(texts, k, idx.alive))}
    for mode in ("exact", "funnel"):
        out[f"dense_{mode}"] = _scored(*idx.search_vectors(vectors, k=k, mode=mode))
    rrf = FusionSettings()
    runs = retrieve_runs(idx, texts, rrf, vectors=vectors)
    for name, settings in (("hybrid_rrf", rrf), ("hybrid_weighted", weighted)):
        # a tuned setting may use other candidates or another dense mode than RRF's defaults
        same = (settings.candidates, settings.dense_mode) == (rrf.candidates, rrf.dense_mode)
        these = runs if same else retrieve_runs(idx, texts, settings, vectors=vectors)
        out[name] = [
            [(int(row), float(score)) for row, score in top] for top in fuse_runs(these, settings, k)
        ]
    return out


def scores(ranked: Mapping[str, list[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """nDCG@10 and Recall@100 of id lists (trec_eval definitions), rounded to 4 places."""
    return {m: round(mean_metric(ranked, qrels, m), 4) for m in METRICS}


class CachedReranker:
    """A :class:`Reranker` whose (query, document) logits are kept: systems share most candidates.

    The logits do not depend on the first stage, so one cache serves every system and every model of a
    dataset. Reranking reorders the first ``top_n`` hits by :func:`mix_scores` of the logits and the
    system's own scores at the reranker's weight (``weight``, else the one stored with the model, else 1)
    and keeps the rest after them, so Recall@100 is the first stage's when ``top_n`` >= 100.
    """

    def __init__(self, model: str, top_n: int, batch_size: int = 32, weight: float | None = None) -> None:
        self.reranker = Reranker(model, batch_size=batch_size, weight=weight)
        self.weight = self.reranker.weight
        self.top_n = top_n
        self.cache: dict[tuple[str, str, str], float] = {}
        self.scored = 0

    def prefetch(
        self, dataset: str, idx: Index, queries: Mapping[str, str], systems: dict[str, Ranked]
    ) -> None:
        """Score every not yet scored (query, head document) pair of ``systems``, with a progress bar."""
        todo: dict[str, dict[str, int]] = {}
        for ranked in systems.values():
            for qid, rows in ranked.items():
                for row in rows[: self.top_n]:
                    doc = idx.ids[row]
                    if (dataset, qid, doc) not in self.cache:
                        todo.setdefault(qid, {})[doc] = row
        pairs = sum(len(d) for d in todo.values())
        with tqdm(total=pairs, desc=f"rerank {dataset}", unit="pair", disable=pairs == 0) as bar:
            for qid, docs in todo.items():
                texts = [idx.text(row) or "" for row in docs.values()]
                logits = self.reranker.score(queries[qid], texts, raw=True)
                for doc, score in zip(docs, logits, strict=True):
                    self.cache[(dataset, qid, doc)] = score
                bar.update(len(docs))
        self.scored += pairs

    def rerank(self, dataset: str, qid: str, ids: list[str], first: list[float]) -> list[str]:
        """``ids`` (first-stage ``first`` scores) with the first ``top_n`` reordered (stable for ties)."""
        head, tail = ids[: self.top_n], ids[self.top_n :]
        cross = [self.cache[(dataset, qid, doc)] for doc in head]
        mixed = mix_scores(cross, first[: self.top_n], self.weight)
        order = sorted(range(len(head)), key=lambda i: -mixed[i])
        return [head[i] for i in order] + tail


def reranker_report(model: str) -> dict[str, Any]:
    """What ``mrlkit train-reranker`` wrote next to ``model`` (its report.json), if anything."""
    import json

    report = Path(model).parent / "report.json"
    if not report.is_file():
        return {}
    data = json.loads(report.read_text(encoding="utf-8"))
    meta = data.get("meta", {})
    return {
        "report": str(report),
        "metrics": data.get("metrics"),
        "data": meta.get("data"),
        "steps": meta.get("steps"),
        "seconds": meta.get("seconds"),
    }
