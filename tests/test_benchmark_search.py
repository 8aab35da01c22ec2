"""The search benchmarks' quick modes on tiny data: their JSON has the keys, and the recall and quality
numbers they report agree with a numpy / trec_eval reference computed here from the same data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")  # every benchmark here builds a faiss index

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
FIXTURE = Path(__file__).parent / "fixtures" / "search"
sys.path.insert(0, str(BENCH))


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    return tmp_path / "results"


def _numpy_top(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def test_search_speed_quick(tmp_path, results_dir, monkeypatch):
    import search_speed

    monkeypatch.setattr(sys, "argv", ["benchmarks/search_speed.py"])
    ids = tmp_path / "ids.npz"
    argv = [
        "--synthetic", "--scale", "600", "--max-real", "300", "--threads", "1",
        "--funnel", "binary:64,int8:32,binary:64:hnsw", "--usearch-dtypes", "f32", "--ivf", "flat,pq",
        "--n-eval", "60", "--n-single", "20", "--work-dir", str(tmp_path / "work"),
        "--save-ids", str(ids), "--max-k-prime-share", "1", "--name", "t",
    ]  # fmt: skip
    res = search_speed.main(argv)
    saved = json.loads((results_dir / "t.json").read_text())
    assert saved["n_vectors"] == 600
    assert saved["vectors"]["augmentation"]["n_synthetic"] == 300
    assert {"top10_real_share", "cosine_real", "cosine_copies"} <= set(saved["vectors"]["realism"])
    for key in ("qps_ratio_vs_exact", "qps_ratio_vs_best_alternative", "recall@10", "ram_bytes_per_vector"):
        assert key in saved["funnel"], key
    for key in ("k_prime", "build_s", "latency_ms_p50", "batch64_qps"):
        assert key in saved["funnel"], key
    methods = ("exact", "hnsw_full", "exact_numpy", "exact_faiss", "usearch_f32", "ivf_flat", "ivf_pq")
    for method in methods:
        assert {"qps", "recall@10", "batch64_qps", "build_s", "latency_ms_p99"} <= set(saved[method]), method
    targets = {"timing", "funnel_20x_exact_at_recall", "shortlist_ram_le_128B", "funnel_vs_hnsw_full"}
    assert set(saved["targets"]) == targets
    assert "search_speed.py" in saved["command"]
    # every reported single-query recall equals the recall of the saved results against numpy's exact top 10
    data = np.load(ids)
    truth = _numpy_top(data["corpus"], data["single"], 10)
    assert _recall(data["truth_single"], truth) == 1.0
    assert _recall(data["exact_numpy"], truth) == 1.0
    for name, row in [(m, res[m]) for m in methods[1:]] + [(f["config"], f) for f in res["funnel_configs"]]:
        assert row["recall@10"] == pytest.approx(_recall(data[name], truth), abs=1e-4), name
    binary64 = next(f for f in res["funnel_configs"] if f["config"] == "binary:64")
    assert binary64["ram_bytes_per_vector"] == 8
    assert binary64["recall@10"] >= 0.9  # k' was tuned to 0.995 on other queries of the same mixture
    # the conservative k': tuned on the 300 real rows alone, grown in proportion to the 600 rows
    upper = binary64["k_prime_upper"]
    assert upper["k_prime"] == min(600, -(-upper["k_prime_real_only"] * 600 // 300))
    assert _recall(data["binary:64@k'_upper"], truth) == pytest.approx(upper["recall@10"], abs=1e-4)
    # a run stopped early writes its results from the checkpoint (here: the last one, after every arm)
    again = search_speed.main([*argv, "--from-partial", "--overwrite"])
    assert again["stopped_early"]["funnel_done"] == ["binary:64", "int8:32", "binary:64:hnsw"]
    assert again["funnel"]["recall@10"] == res["funnel"]["recall@10"]
    assert json.loads((results_dir / "t.json").read_text())["command"] == saved["command"]


def test_search_quality_quick(tmp_path, results_dir, monkeypatch):
    pytrec_eval = pytest.importorskip("pytrec_eval")  # only this test's reference needs it
    import search_quality

    monkeypatch.setattr(sys, "argv", ["benchmarks/search_quality.py"])
    runs = tmp_path / "runs"
    runs.mkdir()
    res = search_quality.main(
        [
            "--quick", "--datasets", str(FIXTURE), "--models", "sentence-transformers/all-MiniLM-L6-v2",
            "--dims", "32,64", "--pseudo-queries", "8", "--cache-dir", str(tmp_path / "cache"),
            "--work-dir", str(tmp_path / "work"), "--save-runs", str(runs), "--name", "q",
        ]
    )  # fmt: skip
    saved = json.loads((results_dir / "q.json").read_text())
    row = saved["search"]["base"]
    configs = {
        "exact",
        "funnel-32-float",
        "funnel-64-int8",
        "funnel-64-binary",
        "hnsw-64-binary",
        "hnsw-full",
    }
    assert configs <= set(row)
    assert {"ndcg@10", "recall@100", "k_prime", "k_prime@100"} <= set(row["funnel-64-binary"])
    assert saved["target"]["met"] is None  # the target is the tuned model on SciFact
    # the exact run equals numpy's ranking, and its nDCG@10 equals trec_eval's on that ranking
    from mrlkit.data.beir import load_beir_eval

    ir = load_beir_eval(FIXTURE, "test")
    doc_ids = list(ir.corpus)
    qids = [q for q in ir.queries if ir.relevant.get(q)]
    data = np.load(runs / "search-all-MiniLM-L6-v2.npz")
    top = _numpy_top(data["corpus"], data["queries"], 10)
    assert _recall(data["exact-10"], top) == 1.0
    scores = data["queries"] @ data["corpus"].T
    run = {q: {doc_ids[d]: float(scores[i, d]) for d in top[i]} for i, q in enumerate(qids)}
    qrels = {q: dict.fromkeys(ir.relevant[q], 1) for q in qids}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    ndcg = float(np.mean([v["ndcg_cut_10"] for v in per_query.values()]))
    assert res["search"]["base"]["exact"]["ndcg@10"] == pytest.approx(ndcg, abs=1e-4)
    for name in ("funnel-64-binary", "hnsw-full"):
        assert row[name]["recall@10_vs_exact"] == pytest.approx(_recall(data[f"{name}-10"], top), abs=1e-4)


def test_search_profile_quick(tmp_path, results_dir, monkeypatch):
    """The phase probe times each phase and its phases, chained, give the funnel's own result."""
    import search_profile

    monkeypatch.setattr(sys, "argv", ["benchmarks/search_profile.py"])
    argv = [
        "--synthetic", "--scale", "600", "--max-real", "300", "--threads", "1", "--n-queries", "8",
        "--specs", "int8:32:50,binary:64:80", "--work-dir", str(tmp_path / "work"), "--name", "p",
    ]  # fmt: skip
    search_profile.main(argv)
    saved = json.loads((results_dir / "p.json").read_text())
    assert saved["n_vectors"] == 600
    assert [f["spec"] for f in saved["funnels"]] == ["int8:32:50", "binary:64:80"]
    for funnel, code_bytes in zip(saved["funnels"], (32, 8), strict=True):
        assert funnel["phases_give_the_funnel_result"] is True
        assert funnel["shortlist_bytes_scanned"] == 600 * code_bytes
        for phase in ("scan_at_k_prime", "scan_at_10", "rescore", "whole_query"):
            assert funnel[phase]["wall_ms_p50"] > 0 and funnel[phase]["cpu_ms_mean"] >= 0
    assert saved["exact_numpy_fp32"]["wall_ms_p50"] > 0
