"""``Index``: build, open, change and search an on-disk Matryoshka index.

>>> idx = Index.build("scifact.idx", "data/scifact", model="my-finetuned/model")   # doctest: +SKIP
>>> idx.search(["do statins lower cholesterol?"], k=10)[0][0]                       # doctest: +SKIP
Hit(id='4983', score=0.71, rank=1, text='...')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mrlkit.config import _enum
from mrlkit.errors import ConfigError, DataError
from mrlkit.search.config import FullDtype, HnswBackend, IndexConfig, ModelBackend, Quantization, SearchMode
from mrlkit.search.corpus import Corpus
from mrlkit.search.encode import Encoder, check_model, check_shortlist_dim
from mrlkit.search.funnel import drop_dead
from mrlkit.search.quantise import normalise
from mrlkit.search.reader import open_parts
from mrlkit.search.storage import check_new_index_folder, read_manifest, verify_segments
from mrlkit.search.writer import check_vectors, corpus_batches, vector_batches, write_new_index

logger = logging.getLogger(__name__)

CorpusInput = str | Path | Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True)
class Hit:
    """One search result: the user's id, the full-dim cosine score, 1-based rank and the text (if stored)."""

    id: str
    score: float
    rank: int
    text: str | None


class Index:
    """A Matryoshka search index in a folder (see :mod:`mrlkit.search.storage` for the format)."""

    def __init__(
        self,
        path: str | Path,
        model: str | None = None,
        allow_model_mismatch: bool = False,
        device: str | None = None,
        model_backend: ModelBackend | str | None = None,
    ) -> None:
        """Open the index at ``path`` (same as :meth:`open`)."""
        self.path = Path(path)
        self.allow_model_mismatch = allow_model_mismatch
        self.device = device
        self._model_name = model
        if model_backend is not None:  # a typo fails here, not at the first query
            model_backend = _enum(ModelBackend, model_backend, "model backend")
        self._model_backend = model_backend
        self._encoder: Encoder | None = None
        self._id_rows: dict[str, int] | None = None
        self._load()

    # ----------------------------------------------------------------- construction
    @classmethod
    def open(cls, path: str | Path, **kwargs: Any) -> Index:
        """Open an index; full vectors are memory-mapped, the shortlist is loaded into RAM.

        Args:
            path: The index folder.
            **kwargs: ``model`` (query with another copy of the model, e.g. its ONNX export),
                ``model_backend`` (``torch`` or ``onnx``; default: the one the index was built with when
                ``model`` is not given, else torch), ``allow_model_mismatch``, ``device``.

        Raises:
            DataError: Not an index, a newer format, or a missing / truncated / corrupted file.
        """
        return cls(path, **kwargs)

    @classmethod
    def build(
        cls,
        path: str | Path,
        corpus: CorpusInput,
        model: str | None = None,
        config: IndexConfig | None = None,
        columns: Mapping[str, str] | None = None,
        overwrite: bool = False,
        device: str | None = None,
        model_backend: ModelBackend | str = ModelBackend.TORCH,
    ) -> Index:
        """Encode ``corpus`` with ``model`` and write a new index (``overwrite`` replaces one atomically).

        ``model_backend="onnx"`` encodes with the model's ``mrlkit export --onnx`` folder (``model`` itself
        or ``MODEL-onnx`` beside it); the index then queries with it too unless told otherwise.
        Everything that can fail on bad input (corpus rows, ids, columns, dims, the target folder) is
        checked before anything is written.
        """
        from mrlkit.models.resolve import DEFAULT_MODEL

        cfg = config or IndexConfig()
        path = Path(path)
        check_new_index_folder(path, overwrite)
        source = Corpus(corpus, columns, cfg.max_text_chars)
        scan = source.scan()
        encoder = Encoder(model or DEFAULT_MODEL, cfg.max_seq_length, device, model_backend)
        info = encoder.info()
        check_shortlist_dim(cfg.shortlist_dim, encoder.dim, info["matryoshka_dims"])
        batches = corpus_batches(source, encoder, cfg, scan.count)
        write_new_index(path, cfg, encoder.dim, info, batches, scan.count, overwrite, with_texts=True)
        index = cls(path, device=device)
        index._encoder = encoder
        return index

    @classmethod
    def from_vectors(
        cls,
        path: str | Path,
        ids: Sequence[str],
        vectors: np.ndarray,
        config: IndexConfig | None = None,
        texts: Sequence[str] | None = None,
        model_info: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Index:
        """Write an index from precomputed vectors (no model: search it with :meth:`search_vectors`)."""
        cfg = config or IndexConfig()
        path = Path(path)
        check_new_index_folder(path, overwrite)
        vectors = check_vectors(ids, vectors, texts, None)
        check_shortlist_dim(cfg.shortlist_dim, vectors.shape[1], None)
        batches = vector_batches(ids, vectors, texts, cfg.chunk_size)
        write_new_index(
            path, cfg, vectors.shape[1], model_info, batches, len(ids), overwrite, texts is not None
        )
        return cls(path)

    # ----------------------------------------------------------------- loading
    def _load(self) -> None:
        self.manifest = read_manifest(self.path)
        verify_segments(self.path, self.manifest)
        self.config = IndexConfig.from_dict(self.manifest.config)
        parts = open_parts(self.path, self.manifest, self.config)
        self.full, self.shortlist, self.ids = parts.full, parts.shortlist, parts.ids
        self._texts, self.alive, self.graphs = parts.texts, parts.alive, parts.graphs
        self._id_rows = None

    def __len__(self) -> int:
        return self.manifest.rows - self.manifest.deleted

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"Index({str(self.path)!r}, {len(self)} vectors, dim={self.manifest.dim}, "
            f"shortlist={cfg.shortlist_dim}-{cfg.quantization.value}, full={cfg.full_dtype.value}, "
            f"hnsw={cfg.hnsw})"
        )

    def text(self, row: int) -> str | None:
        """Stored text of global ``row`` (``None`` when its segment has no texts)."""
        part = int(np.searchsorted(self.full.starts, row, side="right")) - 1
        column = self._texts[part]
        return None if column is None else column[row - int(self.full.starts[part])]

    # ----------------------------------------------------------------- search
    @property
    def encoder(self) -> Encoder:
        """The query encoder, loaded on first use and checked against the index's fingerprint.

        Raises:
            ConfigError: The index holds no model (built from vectors), or the model does not match.
        """
        if self._encoder is None:
            name = self._model_name or self.manifest.model.get("name")
            if not name:
                raise ConfigError(
                    f"index {self.path} was built from vectors without a model; search it with "
                    "search_vectors(), or open it with model=... to encode text queries"
                )
            backend = self._model_backend or (
                self.manifest.model.get("backend", "torch") if self._model_name is None else "torch"
            )
            encoder = Encoder(name, self.manifest.model.get("max_seq_length"), self.device, backend)
            check_model(self.manifest.model, encoder, self.path, self.allow_model_mismatch)
            self._encoder = encoder
        return self._encoder

    def search(
        self,
        queries: Sequence[str] | str,
        k: int = 10,
        mode: SearchMode | str = SearchMode.FUNNEL,
        k_prime: int | None = None,
        ef: int | None = None,
        fusion: str | None = None,
        weights: Sequence[float] | None = None,
        retrievers: Sequence[str] | str | None = None,
        vectors: np.ndarray | None = None,
    ) -> list[list[Hit]]:
        """Encode ``queries`` with the index's model and return each one's top ``k`` hits.

        ``k`` larger than the number of live vectors is clamped to it; an empty batch returns ``[]``.
        ``mode="hybrid"`` fuses the hits of ``retrievers`` (default dense and BM25; ``sparse`` adds the
        learned sparse part) with ``fusion`` (rrf or dbsf) and ``weights`` (one per retriever); default:
        the tuned ones, see :func:`mrlkit.search.hybrid.hybrid_search`. ``vectors``: the
        queries' embeddings when already computed (the service's batched encoder); default: encode.
        """
        if isinstance(queries, str):
            queries = [queries]
        if vectors is not None and len(vectors) != len(queries):
            raise DataError(f"{len(vectors)} query vectors for {len(queries)} queries; give one per query")
        if retrievers is not None and _mode(mode) is not SearchMode.HYBRID:
            raise ConfigError(f"retrievers are fused by mode hybrid only, got mode {_mode(mode).value}")
        if _mode(mode) is SearchMode.HYBRID:
            from mrlkit.search.hybrid import hybrid_search

            return hybrid_search(
                self,
                list(queries),
                k,
                fusion,
                weights,
                k_prime=k_prime,
                ef=ef,
                retrievers=retrievers,
                vectors=vectors,
            )
        if _mode(mode) is SearchMode.SPARSE:
            from mrlkit.search.sparse import sparse_search

            return sparse_search(self, list(queries), k)
        if not queries:
            return []
        if vectors is None:
            vectors = self.encoder.encode(list(queries), batch_size=self.config.batch_size, query=True)
        rows, scores = self.search_vectors(vectors, k=k, mode=mode, k_prime=k_prime, ef=ef)
        return [
            [
                Hit(self.ids[r], float(s), rank, self.text(r))
                for rank, (r, s) in enumerate(zip(rr, ss, strict=True), 1)
                if r >= 0
            ]
            for rr, ss in zip(rows, scores, strict=True)
        ]

    def search_vectors(
        self,
        queries: np.ndarray,
        k: int = 10,
        mode: SearchMode | str = SearchMode.FUNNEL,
        k_prime: int | None = None,
        ef: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` global rows (int64, ``-1`` pads) and full-dim scores (float32) per query vector.

        Raises:
            ConfigError: ``k`` <= 0, an unknown mode, or ``hnsw`` on an index built without a graph.
            DataError: Query vectors of the wrong shape.
        """
        mode = _mode(mode)
        if mode in (SearchMode.HYBRID, SearchMode.SPARSE):
            raise ConfigError(f"mode {mode.value} needs query texts: use search(), not search_vectors()")
        queries = self._check_queries(queries)
        k = self._check_k(k)
        if len(queries) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        if mode is SearchMode.EXACT:
            scores, rows = self.full.exact(queries, k, self.alive)
            return rows, scores
        kp = self.resolve_k_prime(k, k_prime)
        fetch = min(kp + self.manifest.deleted, self.manifest.rows)
        if mode is SearchMode.HNSW:
            if self.graphs is None:
                raise ConfigError(
                    f"index {self.path} has no HNSW graph; rebuild it with --hnsw (hnsw=True) "
                    "or use mode funnel"
                )
            _, candidates = self.graphs.search(queries, fetch, self.resolve_ef(kp, ef))
        else:
            _, candidates = self.shortlist.search(queries, fetch)
        scores, rows = self.full.rescore(queries, drop_dead(candidates, self.alive), k)
        return rows, scores

    def resolve_k_prime(self, k: int, k_prime: int | None = None) -> int:
        """Candidates to rescore per query.

        The argument, else the tuned k' (scaled by k / tuned k), else the build setting, else
        ``max(100, 10 k)``; never below ``k`` nor above the row count.
        """
        tuned = self.manifest.tuned or {}
        if k_prime is None and tuned.get("k_prime"):
            k_prime = math.ceil(tuned["k_prime"] * max(1.0, k / tuned["k"]))
        if k_prime is None:
            k_prime = self.config.k_prime or max(100, 10 * k)
        if k_prime <= 0:
            raise ConfigError(f"k_prime must be > 0, got {k_prime}")
        return int(min(max(k_prime, k), self.manifest.rows))

    def resolve_ef(self, k_prime: int, ef: int | None = None) -> int:
        """HNSW search list size: the argument, else the tuned ef, else the build setting, else 64.

        Never below k'.
        """
        tuned = self.manifest.tuned or {}
        ef = ef or tuned.get("ef") or self.config.ef or 64
        return int(max(ef, k_prime))

    def _check_queries(self, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.manifest.dim:
            raise DataError(f"query vectors must have shape (n, {self.manifest.dim}), got {queries.shape}")
        return normalise(queries)

    def _check_k(self, k: int) -> int:
        if k <= 0:
            raise ConfigError(f"k must be > 0, got {k}")
        return min(k, max(len(self), 1))

    # ----------------------------------------------------------------- changes
    def id_rows(self) -> dict[str, int]:
        """Live id -> global row (built on first use: it reads every id)."""
        if self._id_rows is None:
            alive = self.alive
            self._id_rows = {
                doc_id: row for row, doc_id in enumerate(self.ids) if alive is None or alive[row]
            }
        return self._id_rows

    def add(
        self,
        corpus_or_vectors: CorpusInput | np.ndarray,
        ids: Sequence[str] | None = None,
        texts: Sequence[str] | None = None,
        upsert: bool = False,
        columns: Mapping[str, str] | None = None,
    ) -> int:
        """Add documents (a corpus, encoded with the index's model) or vectors (with ``ids``) atomically.

        Ids already in the index are refused unless ``upsert``, which replaces them.

        Returns:
            The number of rows added.

        Raises:
            DataError: Bad input, or ids already present without ``upsert``.
        """
        from mrlkit.search.changes import add_rows

        added = add_rows(self, corpus_or_vectors, ids, texts, upsert, columns)
        self._load()
        return added

    def delete(self, ids: Sequence[str]) -> int:
        """Hide ``ids`` from search (tombstones), atomically; every id must be present.

        Returns:
            The number of rows deleted.

        Raises:
            DataError: An id is not in the index (nothing is deleted).
        """
        from mrlkit.search.changes import delete_rows

        deleted = delete_rows(self, ids)
        self._load()
        return deleted

    def compact(self) -> dict[str, Any]:
        """Rewrite the index as one segment without its deleted rows, atomically (see :mod:`.compact`).

        Returns:
            Rows before and after, rows removed, segments before, rebuilt components, seconds.
        """
        from mrlkit.search.compact import compact_index

        return compact_index(self)

    def info(self) -> dict[str, Any]:
        """The manifest plus sizes on disk and an estimate of resident memory (see ``mrlkit index info``)."""
        from mrlkit.search.changes import index_info

        return index_info(self)


def _mode(mode: SearchMode | str) -> SearchMode:
    try:
        return SearchMode(mode.value if isinstance(mode, SearchMode) else str(mode).lower())
    except ValueError:
        raise ConfigError(
            f"mode must be one of {', '.join(m.value for m in SearchMode)}; got {mode!r}"
        ) from None


__all__ = ["FullDtype", "HnswBackend", "Hit", "Index", "Quantization"]
