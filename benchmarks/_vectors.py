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


#: Augmentation modes of :func:`augment`: the axes along which each copy's signs are flipped.
AXES = ("dims", "pca")


def reflection(real: np.ndarray, axes: str = "pca") -> tuple[np.ndarray, np.ndarray]:
    """Centre and orthonormal axes (columns) of the reflections :func:`augment` applies.

    ``pca``: the real vectors' mean and principal axes (eigenvectors of their covariance, float64).
    ``dims``: the origin and the coordinate axes (per-dimension sign flips).
    """
    if axes not in AXES:
        raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
    dim = real.shape[1]
    if axes == "dims":
        return np.zeros(dim), np.eye(dim)
    mean = real.mean(axis=0, dtype=np.float64)
    centred = real.astype(np.float64) - mean
    _, basis = np.linalg.eigh(centred.T @ centred)
    return mean, basis


def reflect(
    vectors: np.ndarray, centre: np.ndarray, basis: np.ndarray, signs: np.ndarray, normalise: bool = True
) -> np.ndarray:
    """``centre + B diag(signs) B^T (v - centre)`` for each row ``v``: an isometry (a reflection, since
    ``B`` is orthonormal), then (``normalise``) rescaled to unit length; float32."""
    out = ((vectors.astype(np.float64) - centre) @ basis * signs) @ basis.T + centre
    if normalise:
        out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def augment(real: np.ndarray, n_total: int, seed: int = 0, axes: str = "dims") -> tuple[np.ndarray, dict]:
    """Grow ``real`` to ``n_total`` vectors with reflected copies of it (for speed measurements only).

    Copy ``c`` (1, 2, ...) is every real vector ``r`` reflected by one random sign vector ``s_c``. With
    ``axes="dims"`` (the default) that is ``s_c * r``: per-dimension sign flips, an isometry that keeps
    every vector's norm and Matryoshka prefix norms exactly, so each copy has the real neighbour structure
    and truncates the same way, while no copy vector is near a real one (cosine to its own source about
    0.07; to its nearest real vector 0.21 at the median, against 0.64 between real neighbours).
    ``axes="pca"``: ``normalise(mean + P diag(s_c) P^T (r - mean))``, ``P`` the real principal axes: the
    copies also keep the real mean and covariance (a query's similarity to them has the real spread, 0.10,
    where per-dimension flips give 0.06) but not the per-vector prefix norms.

    Checked against real sentences (``search_augmentation_check.py``, results/search_augmentation_check.json):
    grown from 24,576 to 49,152, the per-dimension copies need a shortlist k' from 0.4% below to 19% above
    what 49,152 real sentences need (binary 64/128, float 64/128), the PCA copies 31-56% above, both the
    same HNSW ef: "dims" is the closer model, and conservative for the funnel. Neither adds density near a
    query: its exact top 10 stay almost all real (``realism``).

    Returns:
        The vectors (real first, copies after, the last copy cut at ``n_total``) and a description.
    """
    rng = np.random.default_rng(seed)
    n_real, dim = real.shape
    if n_total <= n_real:
        return real[:n_total], {"n_real": int(n_total), "n_synthetic": 0, "copies": 0}
    centre, basis = reflection(real, axes)
    out = np.empty((n_total, dim), dtype=np.float32)
    out[:n_real] = real
    copies = 0
    for start in range(n_real, n_total, n_real):
        signs = rng.choice(np.array([-1.0, 1.0]), size=dim)
        stop = min(start + n_real, n_total)
        if axes == "dims":  # the same reflection, exactly: only signs change
            out[start:stop] = real[: stop - start] * signs.astype(np.float32)
        else:
            for lo in range(start, stop, 65536):  # float64 in blocks: bounded RAM
                hi = min(lo + 65536, stop)
                out[lo:hi] = reflect(real[lo - start : hi - start], centre, basis, signs)
        copies += 1
    info = {
        "n_real": int(n_real),
        "n_synthetic": int(n_total - n_real),
        "copies": copies,
        "axes": axes,
        "method": (
            "copy c = s_c * r for every real r (per-dimension sign flips), s_c a random sign vector per copy"
            if axes == "dims"
            else "copy c = normalise(m + P diag(s_c) P^T (r - m)) for every real r, m the real mean, "
            "P the real principal axes, s_c a random sign vector per copy"
        ),
        "real_mean_norm": round(float(np.linalg.norm(real.mean(axis=0, dtype=np.float64))), 4),
        "note": "synthetic vectors are for speed only; quality is measured in search_quality.py",
    }
    return out, info


def realism(corpus: np.ndarray, n_real: int, queries: np.ndarray, truth: np.ndarray) -> dict:
    """How the copies look from the queries, for the results file.

    ``top10_real_share``: share of the exact top 10 that are real rows (``n_real / n`` if the copies were
    as dense near the queries as real sentences; 1.0 if they never compete); the query-to-corpus cosine's
    mean and standard deviation over real rows and over copies (up to 20,000 rows each).
    """
    out: dict = {
        "top10_real_share": round(float(np.mean(truth[truth >= 0] < n_real)), 4),
        "top10_real_share_if_as_dense": round(n_real / len(corpus), 4),
    }
    rng = np.random.default_rng(0)
    for name, lo, hi in (("real", 0, n_real), ("copies", n_real, len(corpus))):
        if hi > lo:
            rows = np.sort(rng.choice(np.arange(lo, hi), size=min(20000, hi - lo), replace=False))
            cos = queries @ corpus[rows].T
            out[f"cosine_{name}"] = {"mean": round(float(cos.mean()), 4), "std": round(float(cos.std()), 4)}
    return out


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
