"""A build, add or delete SIGKILLed at any stage leaves the previous index intact and searchable.

The child process sets ``MRLKIT_SEARCH_WRITE_DELAY``: the writer then names each stage on stderr and
sleeps there; the test kills it with SIGKILL as soon as the chosen stage is reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("faiss")

from mrlkit.search import Index, IndexConfig  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from mrlkit.search import Index, IndexConfig

    op, path = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, 32)).astype(np.float32)
    ids = [f"new-{i}" for i in range(300)]
    cfg = IndexConfig(shortlist_dim=16, quantization="int8", hnsw=True, chunk_size=100)
    if op == "build":
        Index.from_vectors(path, ids, vectors, config=cfg, overwrite=True)
    elif op == "add":
        Index.open(path).add(vectors, ids=ids)
    elif op == "delete":
        Index.open(path).delete([f"doc-{i}" for i in range(0, 200, 2)])
    elif op == "compact":  # the base index has 2 segments and 100 deleted rows (see compacted_index)
        Index.open(path).compact()
    print("done", flush=True)
    """
)


def snapshot(path):
    idx = Index.open(path)
    queries = np.random.default_rng(7).standard_normal((5, 32)).astype(np.float32)
    out = {}
    for mode in ("exact", "funnel", "hnsw"):
        rows, scores = idx.search_vectors(queries, k=5, mode=mode)
        out[mode] = ([idx.ids[r] for r in rows.ravel()], np.round(scores, 5).tolist())
    return len(idx), out


@pytest.fixture
def base_index(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((200, 32)).astype(np.float32)
    path = tmp_path / "idx"
    cfg = IndexConfig(shortlist_dim=16, quantization="int8", hnsw=True)
    Index.from_vectors(path, [f"doc-{i}" for i in range(200)], vectors, config=cfg)
    return path


@pytest.fixture
def compacted_index(base_index):
    """The base index with a second segment and every odd doc deleted: something to compact."""
    idx = Index.open(base_index)
    idx.add(
        np.random.default_rng(3).standard_normal((50, 32)).astype(np.float32),
        ids=[f"x-{i}" for i in range(50)],
    )
    idx.delete([f"doc-{i}" for i in range(1, 200, 2)])
    return base_index


def run_and_kill(path, op: str, stage: str, occurrence: int = 1) -> bool:
    """Run ``op`` in a child; SIGKILL it at the ``occurrence``-th report of ``stage``. True if killed."""
    env = dict(os.environ, MRLKIT_SEARCH_WRITE_DELAY="0.5")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, op, str(path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = 0
    assert child.stderr is not None
    for line in child.stderr:
        if line.strip() == f"mrlkit-checkpoint {stage}":
            seen += 1
            if seen == occurrence:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                return True
    child.wait()
    return False


@pytest.mark.parametrize(
    ("op", "stage", "occurrence", "expect"),
    [
        ("build", "segment-chunk", 2, "old"),
        ("build", "manifest-written", 1, "old"),
        ("add", "segment-sealed", 1, "old"),
        ("add", "segment-renamed", 1, "old"),
        ("delete", "manifest-written", 1, "old"),
        ("delete", "manifest-replaced", 1, "new"),
    ],
)
def test_sigkill_during_a_write_keeps_a_whole_index(base_index, op, stage, occurrence, expect):
    before = snapshot(base_index)
    assert run_and_kill(base_index, op, stage, occurrence), f"the child never reached {stage}"
    after = snapshot(base_index)  # opens, verifies sizes/checksums, searches every mode
    if expect == "old":
        assert after == before
    else:
        assert after[0] == before[0] - 100
    _next_write_cleans_up(base_index)


@pytest.mark.parametrize(
    ("stage", "occurrence", "expect"),
    [
        ("segment-chunk", 2, "old"),
        ("segment-renamed", 1, "old"),
        ("manifest-written", 1, "old"),
        ("manifest-replaced", 1, "new"),
    ],
)
def test_sigkill_during_compaction_keeps_a_whole_index(compacted_index, stage, occurrence, expect):
    before = snapshot(compacted_index)
    segments = len(Index.open(compacted_index).manifest.segments)
    assert run_and_kill(compacted_index, "compact", stage, occurrence), f"the child never reached {stage}"
    after = snapshot(compacted_index)
    idx = Index.open(compacted_index)
    assert after[0] == before[0] == 150
    assert after[1]["exact"][0] == before[1]["exact"][0]  # same ids; scores up to BLAS summation order
    np.testing.assert_allclose(after[1]["exact"][1], before[1]["exact"][1], atol=2e-5)
    assert (len(idx.manifest.segments), bool(idx.manifest.tombstones)) == (
        (segments, True) if expect == "old" else (1, False)
    )
    _next_write_cleans_up(compacted_index)


def _next_write_cleans_up(base_index) -> None:
    """The next write cleans the orphans the killed one left and works."""
    idx = Index.open(base_index)
    idx.add(np.ones((1, 32), np.float32), ids=["after-crash"])
    leftovers = [p.name for p in (base_index / "segments").iterdir() if p.name.startswith(".tmp")]
    manifest = json.loads((base_index / "manifest.json").read_text())
    assert leftovers == [] and len(list((base_index / "segments").iterdir())) == len(manifest["segments"])
    assert not list(base_index.glob("manifest.json.tmp-*"))
