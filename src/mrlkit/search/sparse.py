"""Sparse (SPLADE / CSR) document vectors as the ``sparse`` component of an index, searched exactly.

The document vectors of a sparse encoder are stored as one scipy CSR matrix (``docs.npz``: int32
indices, float32 weights) in ``components/sparse-<uuid>/``, published atomically like BM25's part.
Each query gathers the posting rows of its active terms from the transposed matrix (an inverted index:
row t lists the documents holding term t, with their weights) and sums them weighted by its own term
weights: exact scores, measured faster here than a scipy matrix product and than pyseismic-lsr's
approximate index (``benchmarks/sparse_search.py``, ``benchmarks/results/sparse_search.json``).
Rows are the index's global rows, so sparse hits fuse with dense and BM25 hits by row (hybrid search
with ``retrievers=("dense", "sparse", "bm25")``, or :func:`fused_search`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError, DataError
from mrlkit.search.components import component_folder, publish, temp_folder

if TYPE_CHECKING:
    import scipy.sparse as sp

    from mrlkit.search.index import Hit, Index

NAME = "sparse"
FILE = "docs.npz"


def to_csr(tensor: Any) -> sp.csr_matrix:  # noqa: ANN401 - a torch sparse tensor
    """A torch sparse (COO or CSR) tensor as a float32 scipy CSR matrix."""
    import scipy.sparse as sp

    coo = tensor.to_sparse_coo().coalesce().cpu()
    idx = coo.indices().numpy()
    values = coo.values().float().numpy()
    return sp.csr_matrix((values, (idx[0], idx[1])), shape=tuple(coo.shape), dtype=np.float32)


def encode_sparse(encoder: Any, texts: Sequence[str], *, query: bool, batch_size: int = 32) -> sp.csr_matrix:  # noqa: ANN401
    """Encode ``texts`` as queries or documents into a CSR matrix (one row per text)."""
    import scipy.sparse as sp

    if not texts:
        return sp.csr_matrix((0, 1), dtype=np.float32)
    encode = encoder.encode_query if query else encoder.encode_document
    out = encode(list(texts), batch_size=batch_size, convert_to_sparse_tensor=True, show_progress_bar=False)
    return to_csr(out)


def build_sparse(index: Index, model: str, batch_size: int = 32) -> int:
    """Encode every stored text of ``index`` with sparse encoder ``model``; publish the component atomically.

    Returns:
        The number of rows covered.

    Raises:
        ConfigError: The index stores no texts, or ``model`` is not a sparse encoder.
    """
    import scipy.sparse as sp

    from mrlkit.evaluation.explain import load_sparse_encoder

    rows = index.manifest.rows
    if any(column is None for column in index._texts):
        raise ConfigError(
            f"index {index.path} stores no texts to encode; rebuild it with store_texts on to add sparse "
            "vectors"
        )
    encoder = load_sparse_encoder(model)
    docs = encode_sparse(
        encoder, [index.text(row) or "" for row in range(rows)], query=False, batch_size=batch_size
    )
    folder = temp_folder(index.path, NAME)
    sp.save_npz(folder / FILE, docs, compressed=False)

    def same_rows(manifest: Any) -> None:  # noqa: ANN401
        if manifest.rows != rows:
            raise DataError(
                f"the index changed while sparse vectors were built ({rows} -> {manifest.rows} rows)",
                path=index.path,
                fix=f"Run mrlkit index sparse {index.path} --model {model} again",
            )

    entry = {
        "rows": rows,
        "model": model,
        "dim": int(docs.shape[1]),
        "nnz": int(docs.nnz),
        "kernel": "scipy-csr",
        "bytes_per_vector": 8.0 * docs.nnz / max(rows, 1),
    }
    publish(index.path, NAME, entry, folder, same_rows)
    index._load()
    return rows


class SparseSearcher:
    """The loaded ``sparse`` component: the query encoder and the documents' inverted (CSC) matrix."""

    def __init__(self, entry: dict[str, Any], folder: Path, model: str | None = None) -> None:
        import scipy.sparse as sp

        from mrlkit.evaluation.explain import load_sparse_encoder

        self.entry = entry
        self.rows = int(entry["rows"])
        self.inverted = sp.load_npz(folder / FILE).T.tocsr()  # (dim, rows): row t = term t's postings
        self.encoder = load_sparse_encoder(model or entry["model"])

    @classmethod
    def load(cls, index: Index, model: str | None = None) -> SparseSearcher:
        """Load the index's sparse component (cached on the opened index until it changes).

        Raises:
            ConfigError: The index has none, or it does not cover rows added since.
        """
        stamp = (index.manifest.updated, index.manifest.rows)
        cached = index.__dict__.get("_sparse")
        if cached is not None and cached[0] == stamp:
            return cached[1]
        folder = component_folder(index.path, index.manifest, NAME)
        if folder is None:
            raise ConfigError(
                f"index {index.path} has no sparse vectors; add them with: "
                f"mrlkit index sparse {index.path} --model splade-tiny"
            )
        entry = index.manifest.components[NAME]
        if int(entry["rows"]) != index.manifest.rows:
            raise ConfigError(
                f"the sparse part of {index.path} covers {entry['rows']} of {index.manifest.rows} rows "
                f"(documents were added since); refresh it with: mrlkit index sparse {index.path}"
            )
        searcher = cls(entry, folder, model)
        index.__dict__["_sparse"] = (stamp, searcher)
        return searcher

    def search(
        self, queries: Sequence[str], k: int, alive: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows (int64, ``-1`` pads) and dot-product scores per query; zero scores left out."""
        q = encode_sparse(self.encoder, queries, query=True)
        if q.shape[1] != self.inverted.shape[0]:
            raise ConfigError(
                f"query vectors have {q.shape[1]} dims but the stored documents {self.inverted.shape[0]}; "
                f"query with the model that built the sparse part ({self.entry['model']})"
            )
        return top_k_postings(self.inverted, q, k, alive)


def top_k_postings(
    inverted: sp.csr_matrix, queries: sp.csr_matrix, k: int, alive: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` rows by dot product of ``queries`` (CSR, one row each) with the documents.

    ``inverted`` is the documents' transposed matrix in CSR form, (dim, rows): row t lists the documents
    holding term t. Returns rows (int64, ``-1`` pads) and scores; zero scores and dead rows left out.
    """
    rows_total = inverted.shape[1]
    k = max(1, min(k, rows_total))
    scores = np.zeros((queries.shape[0], rows_total), dtype=np.float32)
    for i in range(queries.shape[0]):  # gather the query's posting lists, then one weighted sum of them
        start, end = queries.indptr[i], queries.indptr[i + 1]
        scores[i] = inverted[queries.indices[start:end]].T @ queries.data[start:end]
    if alive is not None:
        scores[:, ~alive[:rows_total]] = 0.0
    top = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < rows_total
        else np.tile(np.arange(rows_total), (queries.shape[0], 1))
    )
    top_scores = np.take_along_axis(scores, top, 1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    rows = np.take_along_axis(top, order, 1).astype(np.int64)
    best = np.take_along_axis(top_scores, order, 1)
    rows[best <= 0] = -1
    return rows, np.where(best > 0, best, 0.0).astype(np.float32)


def sparse_search(
    index: Index, queries: Sequence[str], k: int = 10, model: str | None = None
) -> list[list[Hit]]:
    """Top ``k`` hits of each query by sparse dot product (``mode="sparse"``)."""
    from mrlkit.search.index import Hit

    if k <= 0:
        raise ConfigError(f"k must be > 0, got {k}")
    if not queries:
        return []
    rows, scores = SparseSearcher.load(index, model).search(list(queries), k, index.alive)
    return [
        [
            Hit(index.ids[r], float(s), rank, index.text(r))
            for rank, (r, s) in enumerate(zip(rr, ss, strict=True), 1)
            if r >= 0
        ]
        for rr, ss in zip(rows, scores, strict=True)
    ]


def fused_search(
    index: Index,
    queries: Sequence[str],
    k: int = 10,
    retrievers: Sequence[str] = ("dense", "sparse"),
    candidates: int = 100,
    rrf_k: int = 60,
) -> list[list[Hit]]:
    """RRF at equal weights of the chosen retrievers' top ``candidates`` rows (dense exact, sparse, BM25).

    The same as ``index.search(..., mode="hybrid", retrievers=..., fusion="rrf")`` with the dense arm
    exact and no tuned settings; the scores are the fused ones.

    Raises:
        ConfigError: An unknown retriever, or a missing sparse or BM25 part.
    """
    from mrlkit.search.config import SearchMode
    from mrlkit.search.hybrid import FusionSettings, fuse_runs, retrieve_runs
    from mrlkit.search.index import Hit

    settings = FusionSettings(
        retrievers=list(retrievers), dense_mode=SearchMode.EXACT, candidates=max(k, candidates), rrf_k=rrf_k
    )
    if not queries:
        return []
    fused = fuse_runs(retrieve_runs(index, queries, settings), settings, k)
    return [
        [Hit(index.ids[r], s, rank, index.text(r)) for rank, (r, s) in enumerate(top, 1)] for top in fused
    ]
