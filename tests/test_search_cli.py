"""``mrlkit index ...`` and ``mrlkit search`` on the tiny model: the happy path and one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES
from typer.testing import CliRunner

pytest.importorskip("faiss")

from mrlkit.cli import app  # noqa: E402

runner = CliRunner()
CORPUS = str(FIXTURES / "search")
WIDE = {"COLUMNS": "200"}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def test_index_commands_end_to_end(tmp_path, tiny_model_path):
    idx = tmp_path / "idx"
    config = tmp_path / "index.yaml"
    config.write_text("shortlist_dim: 16\nquantization: int8\n")
    result = invoke("index", "build", CORPUS, idx, "--model", tiny_model_path, "--config", config, "--hnsw")
    assert result.exit_code == 0, result.output
    assert "indexed 20 texts" in result.output
    info = json.loads(invoke("index", "info", idx, "--json").output)
    assert info["config"]["quantization"] == "int8" and info["config"]["hnsw"] is True
    assert info["shortlist_dim"] == 16 and info["counts"]["live"] == 20
    assert info["ram_bytes_estimate"]["per_vector"] > 0 and info["disk_bytes"]["full"] == 20 * 64 * 2 + 128
    result = invoke("search", idx, "how do bees find flowers", "-k", "3", "--json", "--mode", "hnsw")
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.output.splitlines()]
    assert [h["rank"] for h in hits] == [1, 2, 3] and all(h["text"] for h in hits)
    result = invoke("index", "tune", idx, "--recall", "0.95", "--k", "3", "--queries", CORPUS)
    assert result.exit_code == 0, result.output
    assert json.loads(invoke("index", "info", idx, "--json").output)["tuned"]["queries"] == "5 user queries"
    new = tmp_path / "new.tsv"
    new.write_text("doc\tbody\nd01\tFresh bread smells good.\nd99\tA new document.\n")
    result = invoke("index", "add", idx, new, "--columns", "id=doc,text=body")
    assert result.exit_code == 2 and "already in the index ('d01')" in result.output
    assert invoke("index", "add", idx, new, "--columns", "id=doc,text=body", "--upsert").exit_code == 0
    result = invoke("index", "delete", idx, "--ids", "d99,d02")
    assert result.exit_code == 0 and "19 left" in result.output
    table = invoke("index", "info", idx).output
    assert "19 live, 3 deleted, 2 segment(s)" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "{idx}", "bees", "-k", "0"], "error: k must be > 0"),
        (["search", "{idx}", "  "], "error: the query is empty"),
        (["search", "{idx}", "bees", "--mode", "hnsw"], "has no HNSW graph"),
        (["search", "{missing}", "bees"], "index folder not found"),
        (["index", "delete", "{idx}"], "no ids given"),
        (["index", "delete", "{idx}", "--ids", "nope"], "not in the index"),
        (["index", "build", "{corpus}", "{idx}"], "already holds an index; pass --overwrite"),
        (["index", "build", "{corpus}", "{new}", "--quantization", "int4"], "quantization must be one of"),
        (["index", "tune", "{idx}", "--recall", "1.5"], "recall must be in (0, 1]"),
    ],
)
def test_errors_are_one_line_with_exit_2(tmp_path, tiny_model_path, args, message):
    idx = tmp_path / "idx"
    assert (
        invoke("index", "build", CORPUS, idx, "--model", tiny_model_path, "--shortlist-dim", "16").exit_code
        == 0
    )
    before = (idx / "manifest.json").read_text()
    paths = {"idx": idx, "missing": tmp_path / "missing", "corpus": CORPUS, "new": tmp_path / "new"}
    result = invoke(*[a.format(**{k: str(v) for k, v in paths.items()}) for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert (idx / "manifest.json").read_text() == before
    assert not (tmp_path / "new").exists()


def test_evaluate_search_table_json_png(tmp_path, tiny_model_path):
    idx = tmp_path / "idx"
    assert (
        invoke("index", "build", CORPUS, idx, "--model", tiny_model_path, "--shortlist-dim", "16").exit_code
        == 0
    )
    out = tmp_path / "eval"
    result = invoke("evaluate-search", idx, "--queries", CORPUS, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert "5 queries, 20 documents" in result.output
    results = json.loads((out / "search_eval.json").read_text())
    assert set(results["modes"]) == {"exact", "funnel"}
    exact, funnel = results["modes"]["exact"], results["modes"]["funnel"]
    assert funnel["recall_vs_exact@10"] == 1.0 and funnel["ndcg@10"] == exact["ndcg@10"]  # k' = 20 = all docs
    assert exact["recall@100"] == 1.0 and exact["ram_bytes_per_vector"] == 64 * 2
    assert funnel["ram_bytes_per_vector"] == 2 and (out / "search_eval.png").stat().st_size > 1000
    result = invoke("evaluate-search", idx, "--queries", f"{CORPUS}/queries.jsonl")
    assert result.exit_code == 2 and "error: " in result.output and "--qrels" in result.output


def test_advise_picks_the_cheapest_config_meeting_the_target(tmp_path, tiny_model_path):
    out = tmp_path / "advice"
    args = ["advise", "--data", CORPUS, "--model", tiny_model_path, "--dims", "16,32", "--k-primes", "5,20"]
    result = invoke(*args, "--target", "0.99", "--output-dir", out)
    assert result.exit_code == 0, result.output
    advice = json.loads((out / "advice.json").read_text())
    assert len(advice["rows"]) == 2 * 3 * 2 * 2  # dims x quantisations x (flat, hnsw) x k'
    qualifying = [r for r in advice["rows"] if r["retention"] >= 0.99]
    chosen = advice["chosen"]
    assert chosen["ram_bytes_per_vector"] == min(r["ram_bytes_per_vector"] for r in qualifying)
    assert any(r["k_prime"] == 20 and r["retention"] == 1.0 for r in advice["rows"])  # k' = all docs = exact
    built = invoke(
        "index", "build", CORPUS, tmp_path / "idx", "--model", tiny_model_path, "--config", out / "index.yaml"
    )
    assert built.exit_code == 0, built.output
    info = json.loads(invoke("index", "info", tmp_path / "idx", "--json").output)
    assert (
        info["config"]["shortlist_dim"] == chosen["shortlist_dim"]
        and info["config"]["k_prime"] == chosen["k_prime"]
    )
    assert (out / "advice.png").is_file()
    result = invoke(*args, "--target", "1.5")
    assert result.exit_code == 2 and "target must be in (0, 1]" in result.output
