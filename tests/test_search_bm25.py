"""BM25 component: scores against rank_bm25 and the Lucene formula, tokenizers, atomic storage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mrlkit.errors import ConfigError
from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25
from mrlkit.search.tokenize import TokenizerSettings, make_tokenizer

# every term occurs in fewer than half of the documents, so Okapi's idf is positive (rank_bm25 floors
# negative idfs with an epsilon that bm25s does not have)
DOCS = [
    "red apple pie recipe with cinnamon",
    "green tea lowers blood pressure",
    "apple orchards in autumn",
    "blood tests for cholesterol",
    "how to brew green tea at home",
    "cinnamon rolls and coffee",
    "stock market news today",
    "the history of the printing press",
]
PLAIN = BM25Config(language="none", stem=False, stopwords=False)


def small_index(tmp_path, texts=DOCS, name="idx"):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 16)).astype(np.float32)
    ids = [f"d{i}" for i in range(len(texts))]
    cfg = IndexConfig(shortlist_dim=8, quantization="float", full_dtype="fp32")
    return Index.from_vectors(tmp_path / name, ids, vectors, config=cfg, texts=list(texts))


@pytest.mark.parametrize(("method", "reference"), [("robertson", "BM25Okapi"), ("bm25+", "BM25Plus")])
def test_scores_match_rank_bm25(tmp_path, method, reference):
    rank_bm25 = pytest.importorskip("rank_bm25")
    idx = small_index(tmp_path)
    cfg = BM25Config(language="none", stem=False, stopwords=False, method=method, k1=1.5, b=0.75)
    build_bm25(idx, cfg)
    searcher = BM25Searcher.load(idx)
    extra = {"delta": 0.5} if method == "bm25+" else {}  # bm25s default delta
    theirs_model = getattr(rank_bm25, reference)([d.split() for d in DOCS], k1=1.5, b=0.75, **extra)
    for query in ["green tea", "apple cinnamon", "blood cholesterol tests"]:
        rows, scores = searcher.search([query], k=len(DOCS))
        theirs = theirs_model.get_scores(query.split())
        ours = np.zeros(len(DOCS))
        ours[rows[0][rows[0] >= 0]] = scores[0][rows[0] >= 0]
        # bm25s leaves out Okapi's constant (k1 + 1) numerator factor (same ranking); BM25+ keeps it
        factor = 1.5 + 1 if method == "robertson" else 1.0
        np.testing.assert_allclose(ours * factor, theirs, rtol=1e-5)


def test_lucene_score_by_hand(tmp_path):
    idx = small_index(tmp_path)
    build_bm25(idx, PLAIN)
    rows, scores = BM25Searcher.load(idx).search(["tea"], k=3)
    n, df = len(DOCS), 2
    avgdl = sum(len(d.split()) for d in DOCS) / n
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))

    def score(doc):
        dl = len(doc.split())
        return idf * 1 / (1 + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))

    assert list(rows[0]) == [1, 4, -1]  # the shorter document first; no third match
    assert scores[0][:2] == pytest.approx([score(DOCS[1]), score(DOCS[4])], rel=1e-5)


def test_stemming_stopwords_and_deleted_rows(tmp_path):
    idx = small_index(tmp_path)
    build_bm25(idx, BM25Config(language="en"))
    searcher = BM25Searcher.load(idx)
    rows, _ = searcher.search(["Apples", "the of"], k=2)
    assert set(rows[0]) == {0, 2}  # stemmed to "appl"
    assert list(rows[1]) == [-1, -1]  # only stop words
    idx.delete(["d0"])
    rows, _ = BM25Searcher.load(idx).search(["apples"], k=2, alive=idx.alive)
    assert list(rows[0]) == [2, -1]


def test_bm25_is_a_listed_component_and_refresh_is_required_after_add(tmp_path):
    idx = small_index(tmp_path)
    build_bm25(idx, PLAIN)
    entry = Index.open(idx.path).manifest.components["bm25"]
    assert entry["rows"] == len(DOCS) and entry["config"]["method"] == "lucene"
    folders = list((idx.path / "components").iterdir())
    assert [f.name for f in folders] == [entry["folder"]]
    build_bm25(idx, BM25Config(language="en"))  # replacing removes the old folder
    assert len(list((idx.path / "components").iterdir())) == 1
    idx.add(np.ones((1, 16), np.float32), ids=["new"], texts=["fresh green tea"])
    with pytest.raises(ConfigError, match="covers 8 of 9 rows"):
        BM25Searcher.load(idx)
    assert build_bm25(idx, PLAIN) == 9


def test_corrupted_bm25_file_is_reported(tmp_path):
    from mrlkit.errors import DataError

    idx = small_index(tmp_path)
    build_bm25(idx, PLAIN)
    folder = idx.path / "components" / idx.manifest.components["bm25"]["folder"]
    target = sorted(folder.glob("*.npy"))[0]
    target.write_bytes(target.read_bytes()[:-4])
    with pytest.raises(DataError, match="missing or corrupted"):
        BM25Searcher.load(Index.open(idx.path))


def test_chinese_segmenters():
    text = "一个男人在弹吉他"
    bigram = make_tokenizer(TokenizerSettings("zh", segmenter="bigram"))([text])[0]
    assert bigram == ["一个", "个男", "男人", "人在", "在弹", "弹吉", "吉他"]
    assert BM25Config(language="zh").segmenter == "bigram"  # auto: the measured winner for Chinese
    assert BM25Config(language="en").segmenter == "word"
    word = make_tokenizer(TokenizerSettings("none"))([text])[0]
    assert word == [text]  # a word regex sees one token: why CJK needs a segmenter
    pytest.importorskip("jieba")
    jieba = make_tokenizer(TokenizerSettings("zh", segmenter="jieba"))([text])[0]
    assert "吉他" in jieba and "男人" in jieba


def test_bad_settings():
    with pytest.raises(ConfigError, match="language must be one of"):
        BM25Config(language="klingon")
    with pytest.raises(ConfigError, match="segmenter must be one of"):
        BM25Config(segmenter="spaces")
    with pytest.raises(ConfigError, match="k1 >= 0"):
        BM25Config(k1=-1)
