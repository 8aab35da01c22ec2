"""The Python API behind the CLI's ``evaluate`` and ``quickstart`` commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mrlkit.config import FinetuneConfig
from mrlkit.data import IRSet, load_eval_set
from mrlkit.evaluation import Report, evaluate_model
from mrlkit.training.dims import validate_dims
from mrlkit.training.finetune import FinetuneResult, finetune, machine_info

SAMPLE_DIR = Path(__file__).parent / "samples" / "scifact-mini"


def evaluate(
    model: str,
    data: str | Path,
    *,
    base: str | None = None,
    dims: Sequence[int] | None = None,
    split: str = "test",
    columns: dict[str, str] | None = None,
    batch_size: int = 64,
    output_dir: str | Path | None = None,
) -> Report:
    """Score ``model`` (and optionally a ``base`` model to compare with) at every dim on ``data``.

    Args:
        model: The model to evaluate (hub id or directory); the "tuned" column of the report, or the
            only one when ``base`` is not given.
        data: An evaluation file (pairs, triplets, scored pairs) or a BEIR folder.
        base: Optional base model for a side-by-side comparison.
        dims: Dims to score at (default: the model dim, then powers of two down to 32).
        split: Which qrels file of a BEIR folder to use.
        columns: Column mapping, canonical name -> your column.
        batch_size: Encoding batch size.
        output_dir: If given, report.md/json/png are written there.
    """
    from mrlkit.evaluation.explain import load_any
    from mrlkit.evaluation.sparse import sparse_dimension

    eval_set = load_eval_set(data, columns=columns, split=split)
    main, sparse = load_any(model)  # a sparse encoder is scored at caps k on active dims (no cap: all)
    full = sparse_dimension(main) if sparse else main.get_embedding_dimension()
    dims_list = (
        [full] if sparse and dims is None else validate_dims(list(dims) if dims is not None else None, full)
    )
    main_metrics = evaluate_model(main, eval_set, dims_list, batch_size=batch_size, sparse=sparse)
    task = "ir" if isinstance(eval_set, IRSet) else "sts"
    meta: dict[str, Any] = {"data": str(data), "test_size": len(eval_set), "machine": machine_info()}
    if base is None:
        report = Report(
            task=task, dims=dims_list, base=main_metrics, tuned=None, meta={**meta, "base_model": model}
        )
    else:
        base_model, base_sparse = load_any(base)
        base_metrics = evaluate_model(
            base_model, eval_set, dims_list, batch_size=batch_size, sparse=base_sparse
        )
        report = Report(
            task=task,
            dims=dims_list,
            base=base_metrics,
            tuned=main_metrics,
            meta={**meta, "base_model": base, "tuned_model": model},
        )
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        report.save(Path(output_dir))
    return report


def quickstart_config(output_dir: str | Path = "mrlkit-quickstart", **overrides: Any) -> FinetuneConfig:  # noqa: ANN401
    """The quickstart's settings: the ``fast-cpu`` recipe on the shipped SciFact excerpt."""
    settings: dict[str, Any] = {"data": str(SAMPLE_DIR), "output_dir": str(output_dir)}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return FinetuneConfig.load(None, recipe="fast-cpu", **settings)


def quickstart(
    output_dir: str | Path = "mrlkit-quickstart",
    on_base_done: Callable[[dict[int, dict[str, float]]], None] | None = None,
    on_data_ready: Callable[[list[str]], None] | None = None,
    **overrides: Any,  # noqa: ANN401
) -> FinetuneResult:
    """Fine-tune the default model on the shipped sample and return the base-vs-tuned result."""
    return finetune(
        quickstart_config(output_dir, **overrides), on_base_done=on_base_done, on_data_ready=on_data_ready
    )


def quickstart_search(result: FinetuneResult, k: int = 3) -> dict[str, Any]:
    """Index the sample's corpus with the tuned model and search one of its held-out test queries.

    The index (``OUTPUT_DIR/index``: 64-dim binary shortlist, fp16 full vectors) is rebuilt on every run,
    and its k' tuned to recall@10 >= 0.99 against exact search on corpus passages as pseudo-queries.

    Returns:
        ``index`` (the :class:`~mrlkit.search.Index`), ``tuned`` (what ``tune_index`` stored), ``query``,
        ``relevant`` (its judged document ids), ``funnel`` and ``exact`` (its top ``k`` hits in each mode).

    Raises:
        ImportError: The search extra (faiss) is not installed.
    """
    from mrlkit.data.beir import load_beir_eval
    from mrlkit.search import Index
    from mrlkit.search.tune import tune_index

    index = Index.build(result.output_dir / "index", SAMPLE_DIR, model=str(result.model_path), overwrite=True)
    tuned = tune_index(index, recall=0.99, k=10)
    test = load_beir_eval(SAMPLE_DIR, "test")
    qid = next(q for q in test.queries if test.relevant.get(q))
    query = test.queries[qid]
    return {
        "index": index,
        "tuned": tuned,
        "query": query,
        "relevant": sorted(test.relevant[qid]),
        "funnel": index.search([query], k=k, mode="funnel")[0],
        "exact": index.search([query], k=k, mode="exact")[0],
    }
