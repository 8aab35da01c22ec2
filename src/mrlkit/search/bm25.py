"""BM25 over an index's stored texts, with bm25s, kept as the ``bm25`` component of the index folder.

Row numbers are the index's global rows, so BM25 and dense hits fuse by row. Deleted rows are masked
at search time; rows added after the BM25 build are not covered, and searching then asks for a
refresh (``mrlkit index bm25 IDX``).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError, DataError
from mrlkit.search.components import component_folder, publish, temp_folder
from mrlkit.search.tokenize import Segmenter, TokenizerSettings, make_tokenizer

if TYPE_CHECKING:
    from mrlkit.search.index import Index

NAME = "bm25"


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class BM25Config:
    """Settings of the BM25 component (stored in the manifest; queries are tokenized the same way)."""

    language: str = _help(
        "Language code for stop words and stemming (en, de, fr, zh, ..., none).", default="en"
    )
    stem: bool = _help("Stem words (Snowball, PyStemmer).", default=True)
    stopwords: bool = _help("Drop the language's stop words.", default=True)
    segmenter: Segmenter | str = _help(
        "auto (bigram for zh/ko, else word), word, bigram (CJK pairs) or jieba.", default=Segmenter.AUTO
    )
    k1: float = _help("BM25 term-frequency saturation.", default=1.5)
    b: float = _help("BM25 length normalisation.", default=0.75)
    method: str = _help("bm25s scoring variant: lucene, robertson, atire, bm25l, bm25+.", default="lucene")

    def __post_init__(self) -> None:
        """Check values (the tokenizer settings check the language and segmenter)."""
        self.segmenter = Segmenter(self.tokenizer_settings().segmenter)  # auto -> word or bigram
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ConfigError(f"bm25 needs k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")
        if self.method not in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
            raise ConfigError(
                f"bm25 method must be lucene, robertson, atire, bm25l or bm25+; got {self.method!r}"
            )

    def tokenizer_settings(self) -> TokenizerSettings:
        """The tokenizer part of the settings."""
        return TokenizerSettings(self.language, self.stem, self.stopwords, self.segmenter)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out = dataclasses.asdict(self)
        out["segmenter"] = Segmenter(self.segmenter).value
        return out


def write_bm25(root: Path, texts: list[str], cfg: BM25Config) -> Path:
    """Tokenize ``texts`` (one per row) and save a bm25s index into a new component temp folder."""
    import bm25s

    tokenize = make_tokenizer(cfg.tokenizer_settings())
    tokens = [t or [""] for t in tokenize(texts)]  # bm25s needs a token per document; "" matches no query
    retriever = bm25s.BM25(method=cfg.method, k1=cfg.k1, b=cfg.b)
    retriever.index(tokens, show_progress=False)
    folder = temp_folder(root, NAME)
    try:
        retriever.save(str(folder), show_progress=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def build_bm25(index: Index, config: BM25Config | None = None) -> int:
    """Tokenize every stored text of ``index`` and publish a BM25 component atomically.

    Returns:
        The number of rows covered.

    Raises:
        ConfigError: The index stores no texts.
    """
    cfg = config or BM25Config()
    rows = index.manifest.rows
    if any(column is None for column in index._texts):
        raise ConfigError(
            f"index {index.path} stores no texts, so BM25 has nothing to read; rebuild it with store_texts on"
        )
    folder = write_bm25(index.path, [index.text(row) or "" for row in range(rows)], cfg)

    def same_rows(manifest: Any) -> None:  # noqa: ANN401
        if manifest.rows != rows:
            raise DataError(
                f"the index changed while BM25 was built ({rows} -> {manifest.rows} rows)",
                path=index.path,
                fix="Run mrlkit index bm25 again",
            )

    publish(index.path, NAME, {"rows": rows, "config": cfg.to_dict()}, folder, same_rows)
    index._load()
    return rows


class BM25Searcher:
    """The loaded ``bm25`` component of an index: query tokenizer + memory-mapped bm25s scores."""

    def __init__(self, root: Path, entry: dict[str, Any], folder: Path) -> None:
        import bm25s

        self.config = BM25Config(**entry["config"])
        self.rows = int(entry["rows"])
        self.retriever = bm25s.BM25.load(str(folder), mmap=True)
        self.tokenize = make_tokenizer(self.config.tokenizer_settings())
        self.root = root

    @classmethod
    def load(cls, index: Index) -> BM25Searcher:
        """Load the index's BM25 component.

        Raises:
            ConfigError: The index has none, or it does not cover rows added since.
        """
        folder = component_folder(index.path, index.manifest, NAME)
        if folder is None:
            raise ConfigError(
                f"index {index.path} has no BM25 part; add one with: mrlkit index bm25 {index.path}"
            )
        entry = index.manifest.components[NAME]
        if int(entry["rows"]) != index.manifest.rows:
            raise ConfigError(
                f"the BM25 part of {index.path} covers {entry['rows']} of {index.manifest.rows} rows "
                f"(documents were added since); refresh it with: mrlkit index bm25 {index.path}"
            )
        return cls(index.path, entry, folder)

    def search(
        self, queries: list[str], k: int, alive: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows (int64, ``-1`` pads) and BM25 scores per query; rows with score 0 are left out."""
        k = max(1, min(k, self.rows))
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        mask = None if alive is None else alive.astype(np.float32)
        for i, tokens in enumerate(self.tokenize(queries)):
            ids = self.retriever.get_tokens_ids(tokens)
            if not ids:
                continue
            found, values = self.retriever.retrieve(
                [ids], k=k, show_progress=False, weight_mask=mask, n_threads=0
            )
            keep = values[0] > 0
            n = int(keep.sum())
            rows[i, :n] = found[0][keep]
            scores[i, :n] = values[0][keep]
        return rows, scores
