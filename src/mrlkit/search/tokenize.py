"""Text -> BM25 tokens: lower-case words, per-language stop words and stemming, and CJK segmentation.

Stop-word lists come from bm25s (NLTK's lists), stemmers from PyStemmer (Snowball). Chinese text has no
spaces between words, so a word regex sees a whole clause as one token; ``jieba`` segments it into
words (``pip install jieba``) and ``bigram`` splits runs of CJK characters into overlapping character
pairs (no dependency).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from mrlkit.errors import ConfigError, MissingExtraError

# language code -> (PyStemmer algorithm or None, name of the bm25s stop-word list or None)
LANGUAGES: dict[str, tuple[str | None, str | None]] = {
    "en": ("english", "STOPWORDS_EN"),
    "de": ("german", "STOPWORDS_GERMAN"),
    "nl": ("dutch", "STOPWORDS_DUTCH"),
    "fr": ("french", "STOPWORDS_FRENCH"),
    "es": ("spanish", "STOPWORDS_SPANISH"),
    "pt": ("portuguese", "STOPWORDS_PORTUGUESE"),
    "it": ("italian", "STOPWORDS_ITALIAN"),
    "ru": ("russian", "STOPWORDS_RUSSIAN"),
    "sv": ("swedish", "STOPWORDS_SWEDISH"),
    "no": ("norwegian", "STOPWORDS_NORWEGIAN"),
    "da": ("danish", "STOPWORDS_DANISH"),
    "tr": ("turkish", "STOPWORDS_TURKISH"),
    "zh": (None, "STOPWORDS_CHINESE"),
    "ko": (None, "STOPWORDS_KOREAN"),
    "none": (None, None),
}

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")


class Segmenter(str, Enum):
    """How text is cut into words before stop words and stemming.

    word: runs of letters/digits (spaces and punctuation split); bigram: like word, but runs of CJK
    characters become overlapping character pairs; jieba: Chinese word segmentation with jieba; auto:
    bigram for zh and ko, word otherwise (on Chinese STS-B paraphrase retrieval, bigram found 96.4% of
    them in the top 10, jieba 95.2%, word 14.0%: benchmarks/bm25_chinese_segmenters.py).
    """

    AUTO = "auto"
    WORD = "word"
    BIGRAM = "bigram"
    JIEBA = "jieba"


@dataclass(frozen=True)
class TokenizerSettings:
    """What :func:`make_tokenizer` builds; stored in the index so queries are cut like the corpus."""

    language: str = "en"
    stem: bool = True
    stopwords: bool = True
    segmenter: Segmenter | str = Segmenter.AUTO

    def __post_init__(self) -> None:
        """Check the language and coerce the segmenter (``auto`` resolves to word or bigram)."""
        from mrlkit.config import _enum

        if self.language not in LANGUAGES:
            raise ConfigError(f"bm25 language must be one of {', '.join(LANGUAGES)}; got {self.language!r}")
        segmenter = _enum(Segmenter, self.segmenter, "bm25 segmenter")
        if segmenter is Segmenter.AUTO:
            segmenter = Segmenter.BIGRAM if self.language in ("zh", "ko") else Segmenter.WORD
        object.__setattr__(self, "segmenter", segmenter)


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def _split_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _split_bigrams(text: str) -> list[str]:
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        pos = 0
        for match in _CJK.finditer(word):
            if match.start() > pos:
                tokens.append(word[pos : match.start()])
            tokens.extend(_bigrams(match.group()))
            pos = match.end()
        if pos < len(word):
            tokens.append(word[pos:])
    return tokens


def _jieba_splitter() -> Callable[[str], list[str]]:
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - exercised only without jieba
        raise MissingExtraError(
            "the jieba segmenter needs the optional package 'jieba'. Install it with: pip install jieba"
        ) from exc
    import logging

    jieba.setLogLevel(logging.WARNING)

    def split(text: str) -> list[str]:
        return [w for w in jieba.lcut(text.lower()) if _WORD.fullmatch(w)]

    return split


def make_tokenizer(settings: TokenizerSettings) -> Callable[[Sequence[str]], list[list[str]]]:
    """Return a function mapping texts to token lists (stop words dropped, stems applied).

    Raises:
        MissingExtraError: Stemming without PyStemmer, or the jieba segmenter without jieba.
    """
    stem_name, stop_name = LANGUAGES[settings.language]
    stop: frozenset[str] = frozenset()
    if settings.stopwords and stop_name:
        from bm25s import stopwords as lists

        stop = frozenset(getattr(lists, stop_name))
    stemmer = None
    if settings.stem and stem_name:
        try:
            import Stemmer
        except ImportError as exc:  # pragma: no cover - exercised only without PyStemmer
            raise MissingExtraError(
                "BM25 stemming needs the optional package 'PyStemmer'. Install it with: "
                "pip install 'mrlkit[search]' (or pass stem=False / --no-bm25-stem)"
            ) from exc
        stemmer = Stemmer.Stemmer(stem_name)
    segmenter = Segmenter(settings.segmenter)
    splitters: dict[Segmenter, Callable[[str], list[str]]] = {
        Segmenter.WORD: _split_words,
        Segmenter.BIGRAM: _split_bigrams,
    }
    split = splitters[segmenter] if segmenter in splitters else _jieba_splitter()

    def tokenize(texts: Sequence[str]) -> list[list[str]]:
        out = []
        for text in texts:
            words = [w for w in split(text) if w not in stop]
            out.append(stemmer.stemWords(words) if stemmer is not None else words)
        return out

    return tokenize
