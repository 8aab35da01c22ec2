"""MTEB on local BEIR data: mrlkit's nDCG@10 and MTEB's agree per dim; bad folders are refused."""

import json

import pytest
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

pytest.importorskip("mteb")

from mrlkit.cli.app import app  # noqa: E402
from mrlkit.data import load_eval_set  # noqa: E402
from mrlkit.errors import DataError  # noqa: E402
from mrlkit.evaluation import evaluate_model  # noqa: E402
from mrlkit.evaluation.mteb_eval import run_mteb  # noqa: E402
from mrlkit.export.onnx import SAMPLE_DIR  # noqa: E402


@pytest.fixture(scope="module")
def small_beir(tmp_path_factory):
    """A 60-document BEIR folder cut from the shipped SciFact excerpt (every relevant doc kept)."""
    ir = load_eval_set(str(SAMPLE_DIR)).subsample_corpus(60)
    out = tmp_path_factory.mktemp("beir")
    (out / "qrels").mkdir()
    lines = [json.dumps({"_id": d, "title": "", "text": t}) for d, t in ir.corpus.items()]
    (out / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    lines = [json.dumps({"_id": q, "text": t}) for q, t in ir.queries.items() if q in ir.relevant]
    (out / "queries.jsonl").write_text("\n".join(lines) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t1" for q, ds in ir.relevant.items() for d in sorted(ds)
    ]
    (out / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return out


def test_mteb_and_mrlkit_ndcg_agree_at_every_dim(tiny_model_path, small_beir, tmp_path):
    scores = run_mteb(tiny_model_path, str(small_beir), tmp_path / "mteb", dims=[64, 32])
    ir = load_eval_set(str(small_beir))
    ours = evaluate_model(
        SentenceTransformer(tiny_model_path, device="cpu"), ir, [64, 32], show_progress_bar=False
    )
    for dim in (64, 32):
        # MTEB rounds its scores to 5 decimals; both use pytrec_eval-style nDCG with binary gains
        assert scores[dim]["ndcg_at_10"] == pytest.approx(ours[dim]["ndcg@10"], abs=1e-4)
        assert scores[dim]["recall_at_100"] == pytest.approx(ours[dim]["recall@100"], abs=1e-4)
        assert (tmp_path / "mteb" / f"dim{dim}").is_dir()  # MTEB's own result files, one tree per dim
    assert list((tmp_path / "mteb" / "dim32").rglob("MrlkitLocalRetrieval.json"))
    summary = json.loads((tmp_path / "mteb" / "mteb_summary.json").read_text())
    assert summary["dims"] == [64, 32] and "ndcg_at_10" in summary["scores"]["32"]


def test_a_folder_without_test_qrels_is_refused(tiny_model_path, small_beir, tmp_path):
    folder = tmp_path / "beir"
    folder.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        (folder / name).write_text((small_beir / name).read_text())
    (folder / "qrels").mkdir()
    with pytest.raises(DataError, match=r"no qrels/test.tsv in this folder"):
        run_mteb(tiny_model_path, str(folder), tmp_path / "out")
    result = CliRunner().invoke(app, ["mteb", tiny_model_path, "--data", str(folder)])
    assert result.exit_code == 2 and "error:" in result.output and "qrels/test.tsv" in result.output
