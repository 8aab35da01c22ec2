"""The README's first command on the real shipped sample: slow (minutes), run by CI."""

import pytest
from typer.testing import CliRunner

from mrlkit.cli import app


@pytest.mark.slow
def test_quickstart_improves_the_default_model(tmp_path):
    out = tmp_path / "qs"
    result = CliRunner().invoke(app, ["quickstart", "--output-dir", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "nDCG@10 by dimension" in result.output
    import json

    report = json.loads((out / "report.json").read_text())
    base, tuned = report["base"], report["tuned"]
    assert set(tuned) == {"384", "256", "128", "64", "32"}
    # fine-tuning on the SciFact excerpt raises nDCG@10 on its 100 held-out test queries at small dims
    assert tuned["64"]["ndcg@10"] > base["64"]["ndcg@10"]
    assert tuned["32"]["ndcg@10"] > base["32"]["ndcg@10"]
    # then it indexes the excerpt with the tuned model and searches a held-out query
    from mrlkit.search import Index

    idx = Index.open(out / "index")
    assert len(idx) == 600 and idx.manifest.tuned["k_prime"] < 600
    text = " ".join(result.output.split())
    assert "600 sample documents indexed" in text and "search it: mrlkit search" in text
    assert "1. " in text and "2. " in text and "3. " in text
