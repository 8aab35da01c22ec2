"""Real sentence vectors for the search benchmarks, and the documented augmentation to reach 10^6.

Sentences come from the corpora in ``../shared/datasets``: SciFact, CISI and Vaswani documents (titles and
sentence-split abstracts; Vaswani has no punctuation, so each of its documents is one item), the STSb and
SICK sentence pairs, and the FlagEmbedding sample passages. The *queries* of SciFact, CISI and Vaswani are
held out as search queries: none of their texts is in the corpus (exact duplicates are dropped from it).

The corpus list is shuffled with a fixed seed, so that its first N texts (``--max-real N``) are a sample of
every source. Encodings are cached in ``runs/search_vectors/<tag>/`` in chunks named by a hash of the model
and the chunk's texts, so an interrupted encoding resumes and a rerun skips it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CACHE = Path(__file__).resolve().parents[1] / "runs" / "search_vectors"
CHUNK = 1024
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
MIN_WORDS = 3


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SPLIT.split(text) if len(s.split()) >= MIN_WORDS]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def corpus_texts(root: Path = DATASETS) -> list[str]:
    """Deduplicated real sentences/passages from the shared corpora (queries excluded, see module doc)."""
    texts: list[str] = []
    for name in ("scifact", "cisi"):
        for doc in _jsonl(root / name / "corpus.jsonl"):
            if doc.get("title"):
                texts.append(doc["title"])
            texts.extend(_sentences(doc.get("text", "")))
    texts.extend(d["text"] for d in _jsonl(root / "vaswani_npl" / "corpus.jsonl") if d.get("text"))
    for split in ("train", "dev", "test"):
        with (root / "stsbenchmark" / f"sts-{split}.csv").open(encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 7:
                    texts.extend(fields[5:7])
    with (root / "sick" / "SICK.txt").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) >= 3:
                texts.extend(fields[1:3])
    for path in sorted((root / "flagembedding_examples").glob("*.jsonl")):
        for row in _jsonl(path):
            for passage in [*row.get("pos", []), *row.get("neg", [])]:
                texts.extend(_sentences(passage))
    held_out = {_norm(q) for q in query_texts(root)}
    seen: set[str] = set()
    unique = []
    for t in texts:
        key = _norm(t)
        if len(t.split()) >= MIN_WORDS and key not in seen and key not in held_out:
            seen.add(key)
            unique.append(t)
    order = np.random.default_rng(0).permutation(len(unique))  # any prefix is a sample of every source
    return [unique[i] for i in order]


def query_texts(root: Path = DATASETS) -> list[str]:
    """The real queries of SciFact, CISI and Vaswani (deduplicated), used as held-out search queries."""
    out: list[str] = []
    seen: set[str] = set()
    for name in ("scifact", "cisi", "vaswani_npl"):
        for q in _jsonl(root / name / "queries.jsonl"):
            key = _norm(q["text"])
            if key and key not in seen:
                seen.add(key)
                out.append(q["text"])
    return out


def _model_key(model_name: str) -> str:
    """The model name plus, for a local folder, its files' sizes and mtimes (a retrained model re-encodes)."""
    path = Path(model_name)
    if not path.is_dir():
        return model_name
    stats = sorted(
        (str(p.relative_to(path)), p.stat().st_size, int(p.stat().st_mtime))
        for p in path.rglob("*")
        if p.is_file()
    )
    return json.dumps([str(path.resolve()), stats])


def encode_cached(
    model_name: str,
    texts: list[str],
    tag: str,
    batch_size: int = 64,
    cache_only: bool = False,
    cache: Path = CACHE,
) -> np.ndarray:
    """Encode ``texts`` (unit-normalised float32) with an on-disk cache under ``runs/search_vectors/``.

    The cache holds chunks of :data:`CHUNK` texts, each file named by a hash of the model and the chunk's
    texts, so an interrupted encoding resumes and a prefix of a text list reuses the chunks already done.
    ``cache_only``: return only the leading chunks already in the cache (no model is loaded).
    """
    folder = cache / tag
    folder.mkdir(parents=True, exist_ok=True)
    key = _model_key(model_name)
    model = None
    parts = []
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        digest = hashlib.sha256(json.dumps([key, chunk]).encode()).hexdigest()[:20]
        part_path = folder / f"{digest}.npy"
        if not part_path.exists():
            if cache_only:
                break
            if model is None:
                from mrlkit.models import load_model

                model = load_model(model_name)
            vecs = model.encode(
                chunk, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            tmp = folder / f"{digest}.tmp.npy"
            np.save(tmp, vecs.astype(np.float32))
            tmp.replace(part_path)
            print(f"{tag}: encoded {start + len(chunk)}/{len(texts)}", flush=True)
        parts.append(np.load(part_path))
    return np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)


def augment(real: np.ndarray, n_total: int, seed: int = 0, neighbours: int = 10) -> tuple[np.ndarray, dict]:
    """Grow ``real`` to ``n_total`` unit vectors by mixing real neighbours (for speed measurements only).

    Each synthetic vector is ``normalise(a * r_i + (1 - a) * r_j + sigma * g)``: ``r_i`` a uniformly drawn
    real vector, ``r_j`` one of its ``neighbours`` nearest real vectors, ``a ~ U(0, 1)`` and ``g`` standard
    Gaussian noise. Mixing real neighbours keeps the synthetic points on the real vectors' manifold (with
    their Matryoshka structure: every dim mixes the same way); ``sigma`` is half the noise scale at which a
    noisy copy's cosine to its source equals the median cosine between a real vector and its nearest real
    neighbour, so the points spread around the segments without being exact interpolations.

    Returns:
        The vectors (real first) and a description of the augmentation for the results file.
    """
    import faiss

    rng = np.random.default_rng(seed)
    n_real, dim = real.shape
    out = np.empty((max(n_total, n_real), dim), dtype=np.float32)
    out[:n_real] = real
    info: dict = {"n_real": int(n_real), "n_synthetic": int(max(n_total - n_real, 0))}
    if n_total <= n_real:
        return out[:n_total], info
    index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(real))
    sims, nn = index.search(np.ascontiguousarray(real), min(neighbours + 1, n_real))
    nn_cos = float(np.median(sims[:, 1])) if n_real > 1 else 0.5
    # E|r + s g|^2 = 1 + s^2 dim, so cos(r, r + s g) ~ 1 / sqrt(1 + s^2 dim)
    sigma = 0.5 * float(np.sqrt(max(1.0 / nn_cos**2 - 1.0, 1e-6) / dim))
    step = 100_000
    for start in range(n_real, n_total, step):
        stop = min(start + step, n_total)
        i = rng.integers(0, n_real, size=stop - start)
        j = nn[i, rng.integers(1, nn.shape[1], size=stop - start)] if nn.shape[1] > 1 else i
        a = rng.random((stop - start, 1), dtype=np.float32)
        block = (
            a * real[i]
            + (1 - a) * real[j]
            + sigma * rng.standard_normal((stop - start, dim), dtype=np.float32)
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    info.update(
        method=(
            "normalise(a * r_i + (1 - a) * r_j + sigma * N(0, I)): i uniform over the real vectors, "
            f"j one of i's {neighbours} nearest real vectors, a ~ U(0, 1)"
        ),
        sigma=round(sigma, 6),
        median_real_nn_cosine=round(nn_cos, 4),
        note="synthetic vectors are for speed only; quality is measured in search_quality.py",
    )
    return out, info


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(
        description="Encode and cache the real sentence vectors (run once, in the background)."
    )
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    a = p.parse_args()
    c, q = corpus_texts(), query_texts()
    print(f"{len(c)} corpus texts, {len(q)} queries", flush=True)
    encode_cached(a.model, q, "queries")
    encode_cached(a.model, c, "corpus")
