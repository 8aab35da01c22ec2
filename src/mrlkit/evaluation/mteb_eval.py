"""MTEB on the user's own retrieval data: a custom ``AbsTaskRetrieval`` built from local files.

``mrlkit mteb MODEL --data BEIR_FOLDER`` loads the folder as mrlkit does (``corpus.jsonl``,
``queries.jsonl``, ``qrels/<split>.tsv``; nothing is downloaded), hands it to MTEB as a retrieval
task and runs MTEB's evaluator once per Matryoshka dim (``truncate_dim``), so every MTEB metric
(nDCG, MAP, MRR, recall, precision, hit rate at 1..1000, NAUC) is reported per dim. MTEB writes its
result files under ``OUTPUT_DIR/dim<d>/``; ``mteb_summary.json`` lists the main scores per dim.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentence_transformers import SentenceTransformer

from mrlkit.data.types import IRSet
from mrlkit.errors import ConfigError, DataError, require
from mrlkit.models.resolve import resolve_model
from mrlkit.training.dims import validate_dims

logger = logging.getLogger(__name__)

SUMMARY_METRICS = ("ndcg_at_10", "map_at_100", "mrr_at_10", "recall_at_10", "recall_at_100")


def local_retrieval_task(ir: IRSet, *, name: str = "MrlkitLocalRetrieval", lang: str = "eng-Latn") -> Any:  # noqa: ANN401
    """An MTEB retrieval task (split ``test``) whose data is ``ir``, already in memory.

    Args:
        ir: Queries, corpus and relevant docs (relevance 1 each, as mrlkit reads BEIR qrels > 0).
        name: The task's name in MTEB's result files.
        lang: MTEB language code of the texts, e.g. ``eng-Latn`` or ``cmn-Hans``.
    """
    require("mteb", "mteb", "MTEB evaluation")
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name=name,
            description=f"Local retrieval data loaded by mrlkit ({ir.name}).",
            dataset={"path": f"local/{ir.name}", "revision": "local"},
            type="Retrieval",
            category="t2t",
            modalities=["text"],
            eval_splits=["test"],
            eval_langs=[lang],
            main_score="ndcg_at_10",
        )

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:  # noqa: ANN401
            corpus = [{"id": d, "text": t, "title": ""} for d, t in ir.corpus.items()]
            queries = [{"id": q, "text": ir.queries[q]} for q in ir.relevant]
            split: Any = {
                "corpus": Dataset.from_list(corpus),
                "queries": Dataset.from_list(queries),
                "relevant_docs": {q: {d: 1 for d in docs} for q, docs in ir.relevant.items()},
                "top_ranked": None,
            }
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return LocalRetrieval()


def run_mteb(
    model: str,
    data: str,
    output_dir: str | Path,
    *,
    dims: Sequence[int] | None = None,
    split: str = "test",
    lang: str = "eng-Latn",
    batch_size: int = 32,
) -> dict[int, dict[str, float]]:
    """Evaluate ``model`` with MTEB on the retrieval folder ``data`` at each dim.

    Args:
        model: Model folder or hub id.
        data: A BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
        output_dir: Where MTEB's result files (``dim<d>/results/...``) and ``mteb_summary.json`` go.
        dims: Dims to evaluate (default: the model dim, then powers of 2 to 32).
        split: The qrels file used as MTEB's test split.
        lang: MTEB language code of the data.
        batch_size: Encoding batch size.

    Returns:
        Per dim, MTEB's scores (every metric, as MTEB names them).

    Raises:
        DataError: When ``data`` is not a retrieval folder with ``qrels/<split>.tsv``.
    """
    require("mteb", "mteb", "MTEB evaluation")
    import mteb
    from mteb.cache import ResultCache

    ir = _load_retrieval(data, split)
    st = SentenceTransformer(resolve_model(model), device=None)
    model_dim = st.get_embedding_dimension()
    if model_dim is None:
        raise ConfigError(f"model {model!r} has no fixed embedding dimension; use a dense embedding model")
    dims = validate_dims(None if dims is None else list(dims), model_dim)
    out = Path(output_dir)
    scores: dict[int, dict[str, float]] = {}
    for dim in dims:
        st.truncate_dim = dim
        result = mteb.evaluate(
            st,
            local_retrieval_task(ir, lang=lang),
            cache=ResultCache(out / f"dim{dim}"),
            overwrite_strategy="always",
            encode_kwargs={"batch_size": batch_size},
            show_progress_bar=False,
        )
        row = result.task_results[0].scores["test"][0]
        scores[dim] = {k: v for k, v in row.items() if isinstance(v, float)}
    summary = {
        "model": model,
        "data": str(data),
        "split": split,
        "queries": len(ir.relevant),
        "corpus": len(ir.corpus),
        "dims": dims,
        "scores": {str(d): {m: scores[d][m] for m in SUMMARY_METRICS if m in scores[d]} for d in dims},
    }
    (out / "mteb_summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return scores


def _load_retrieval(data: str, split: str) -> IRSet:
    from mrlkit.data import load_eval_set

    path = Path(data)
    if path.is_dir() and not (path / "qrels" / f"{split}.tsv").is_file():
        raise DataError(
            f"no qrels/{split}.tsv in this folder; MTEB scores the {split} qrels",
            path=path,
            fix=f"Add qrels/{split}.tsv (query-id, corpus-id, score) or pass --split with an existing file",
        )
    eval_set = load_eval_set(str(path), split=split)
    if not isinstance(eval_set, IRSet):
        raise DataError(
            "holds scored pairs; mrlkit mteb runs a retrieval task",
            path=path,
            fix="Give a BEIR folder or a pairs/triplets file",
        )
    return eval_set
