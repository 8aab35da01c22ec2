"""Index life cycle: build from text, open, add / upsert / delete, fingerprints, integrity, bad input."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

pytest.importorskip("faiss")

from conftest import FIXTURES  # noqa: E402

from mrlkit.errors import ConfigError, DataError  # noqa: E402
from mrlkit.search import Index, IndexConfig  # noqa: E402
from mrlkit.search.storage import FORMAT_VERSION  # noqa: E402

CORPUS = FIXTURES / "search"


def unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_path):
    """The packaged MiniLM over the 20-doc fixture (encoded once for this module)."""
    path = tmp_path_factory.mktemp("search") / "idx"
    Index.build(path, CORPUS, model=minilm_path, config=IndexConfig(shortlist_dim=64))
    return path


def copy_of(path, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(path, target)
    return target


def test_build_open_search_round_trip(built):
    idx = Index.open(built)
    assert len(idx) == 20 and idx.manifest.dim == 384
    hits = idx.search(["what causes a volcano to erupt", "how is cheese made from milk"], k=3)
    assert [h[0].id for h in hits] == ["d05", "d16"]
    assert [h.rank for h in hits[0]] == [1, 2, 3] and hits[0][0].score > hits[0][1].score
    assert hits[0][0].text.startswith("Volcanoes")
    exact = idx.search(["what causes a volcano to erupt"], k=3, mode="exact")[0]
    assert [h.id for h in exact] == [h.id for h in hits[0]]
    assert idx.ids[4] == "d05"


def test_add_upsert_delete(built, tmp_path):
    path = copy_of(built, tmp_path)
    idx = Index.open(path)
    new = tmp_path / "new.jsonl"
    new.write_text('{"id": "d21", "text": "Penguins are flightless birds that swim in cold seas."}\n')
    assert idx.add(new) == 1 and len(idx) == 21
    assert idx.search(["birds that cannot fly but swim"], k=1)[0][0].id == "d21"
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "d05", "text": "Penguins huddle together to stay warm in winter."}\n')
    before = json.loads((path / "manifest.json").read_text())
    with pytest.raises(DataError, match=r"1 id\(s\) are already in the index \('d05'\).*--upsert"):
        idx.add(dup)
    assert json.loads((path / "manifest.json").read_text()) == before
    idx.add(dup, upsert=True)
    assert len(idx) == 21
    hit = idx.search(["penguins keep warm in winter"], k=1)[0][0]
    assert hit.id == "d05" and "Penguins" in hit.text
    assert "Volcanoes" not in " ".join(h.text for h in idx.search(["volcano erupts"], k=21, mode="exact")[0])
    assert idx.delete(["d05", "d21"]) == 2 and len(idx) == 19
    with pytest.raises(DataError, match="not in the index.*nothing was deleted"):
        idx.delete(["d01", "nope"])
    reopened = Index.open(path)
    assert len(reopened) == 19 and reopened.manifest.deleted == 3
    found = {h.id for h in reopened.search(["penguins volcano"], k=19, mode="exact")[0]}
    assert "d05" not in found and "d21" not in found and len(found) == 19


def test_vectors_add_and_duplicates(tmp_path):
    vectors = unit(50)
    idx = Index.from_vectors(tmp_path / "idx", [f"v{i}" for i in range(50)], vectors, config=IndexConfig(32))
    with pytest.raises(DataError, match="duplicate id 'a'"):
        Index.from_vectors(tmp_path / "other", ["a", "a"], vectors[:2])
    with pytest.raises(DataError, match="already in the index"):
        idx.add(unit(1, seed=1), ids=["v3"])
    idx.add(unit(2, seed=2), ids=["w0", "w1"])
    rows, _ = idx.search_vectors(unit(2, seed=2), k=1, mode="exact")
    assert [idx.ids[r] for r in rows[:, 0]] == ["w0", "w1"]
    with pytest.raises(DataError, match="vectors have 16 dims but the index has 32"):
        Index.open(tmp_path / "idx").add(unit(1, dim=16), ids=["x"])


def test_model_fingerprint_mismatch_is_refused_unless_allowed(tmp_path, tiny_model_path):
    from sentence_transformers import SentenceTransformer

    Index.build(tmp_path / "idx", CORPUS, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    other = SentenceTransformer(tiny_model_path, device="cpu")
    import torch

    torch.manual_seed(1)
    for param in other.parameters():
        param.data += 0.05 * torch.randn_like(param)
    other.save(str(tmp_path / "changed"))
    with pytest.raises(
        ConfigError, match=r"fingerprint \w+\), but the query model .* --allow-model-mismatch"
    ):
        Index.open(tmp_path / "idx", model=str(tmp_path / "changed")).search(["bees"])
    hits = Index.open(tmp_path / "idx", model=str(tmp_path / "changed"), allow_model_mismatch=True).search(
        ["bees"]
    )
    assert len(hits[0]) == 10
    resaved = SentenceTransformer(tiny_model_path, device="cpu")
    resaved.save(str(tmp_path / "same"))  # the same weights in another folder: accepted
    assert Index.open(tmp_path / "idx", model=str(tmp_path / "same")).search(["bees"], k=2)[0]


def test_truncated_or_corrupted_files_are_detected_on_open(built, tmp_path):
    path = copy_of(built, tmp_path)
    full = next((path / "segments").glob("seg-*/full.npy"))
    data = full.read_bytes()
    full.write_bytes(data[:-100])
    with pytest.raises(
        DataError, match=r"full.npy: index file is truncated or corrupted.*mrlkit index build"
    ):
        Index.open(path)
    full.write_bytes(data[:-4] + b"\x00\x01\x02\x03")
    with pytest.raises(DataError, match="full.npy: index file is corrupted .checksum"):
        Index.open(path)


def test_newer_format_and_non_index_folders(built, tmp_path):
    path = copy_of(built, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=f"format version {FORMAT_VERSION + 1} is newer.*Upgrade mrlkit"):
        Index.open(path)
    with pytest.raises(DataError, match="index folder not found"):
        Index.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="no manifest.json"):
        Index.open(tmp_path / "plain")
    with pytest.raises(ConfigError, match="not an mrlkit index"):
        Index.from_vectors(tmp_path / "plain", ["a"], unit(1))
    with pytest.raises(ConfigError, match="already holds an index; pass --overwrite"):
        Index.from_vectors(built, ["a"], unit(1))


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", "", "the corpus is empty"),
        (
            "dup.jsonl",
            '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
            r"dup.jsonl:2: duplicate id 'a'",
        ),
        (
            "noid.jsonl",
            '{"key": "a", "text": "x"}\n',
            r"noid.jsonl:1: no id column \(found: key, text\).*--columns",
        ),
        ("notext.csv", "id,body2\na,x\n", r"notext.csv:2: no text column.*--columns"),
        ("latin1.jsonl", '{"id": "a", "text": "caf\xe9"}\n'.encode("latin-1"), "not UTF-8"),
        ("num.jsonl", '{"id": "a", "text": 5}\n', "num.jsonl:1: the text is a int, not text"),
    ],
)
def test_bad_corpus_is_refused_before_writing(tmp_path, tiny_model_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError, match=message):
        Index.build(tmp_path / "idx", path, model=tiny_model_path)
    assert not (tmp_path / "idx").exists()


def test_column_mapping_csv_and_long_text(tmp_path, tiny_model_path, caplog):
    long_text = "word " * 220_000  # about 1 MB
    path = write(tmp_path, "c.csv", f"doc_id,body\na,short text\nb,{long_text}\n")
    with caplog.at_level(logging.WARNING):
        idx = Index.build(
            tmp_path / "idx",
            path,
            model=tiny_model_path,
            columns={"id": "doc_id", "text": "body"},
            config=IndexConfig(shortlist_dim=32),
        )
    assert "1 text(s) longer than 32768 characters are cut" in caplog.text
    assert len(idx) == 2 and len(idx.text(1)) == len(long_text.strip())


def test_shortlist_dim_checks(tmp_path, tiny_model_path):
    with pytest.raises(ConfigError, match="shortlist_dim 128 is larger than the model's dimension 64"):
        Index.build(tmp_path / "idx", CORPUS, model=tiny_model_path, config=IndexConfig(shortlist_dim=128))
    with pytest.raises(ConfigError, match="multiple of 8"):
        IndexConfig(shortlist_dim=60, quantization="binary")
    assert not (tmp_path / "idx").exists()


def test_shortlist_dim_not_trained_warns(tmp_path, tiny_model_path, caplog):
    model_dir = tmp_path / "run" / "model"
    shutil.copytree(tiny_model_path, model_dir)
    (tmp_path / "run" / "config.yaml").write_text("dims: [64, 32]\n")
    with caplog.at_level(logging.WARNING):
        Index.build(tmp_path / "idx", CORPUS, model=str(model_dir), config=IndexConfig(shortlist_dim=16))
    assert "not one of the Matryoshka dims the model was trained for (64, 32)" in caplog.text


def test_config_yaml_and_overrides(tmp_path):
    cfg_path = write(tmp_path, "index.yaml", "shortlist_dim: 128\nquantization: int8\nhnsw: true\n")
    cfg = IndexConfig.load(cfg_path, shortlist_dim="32")
    assert (cfg.shortlist_dim, cfg.quantization.value, cfg.hnsw) == (32, "int8", True)
    with pytest.raises(ConfigError, match="unknown index setting"):
        IndexConfig.load(cfg_path, shortlst_dim=3)
    with pytest.raises(ConfigError, match="quantization must be one of float, int8, binary"):
        IndexConfig(quantization="int4")
