"""End-to-end fine-tuning on the tiny random model: fast, offline, real trainer and evaluators."""

import importlib
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer

import mrlkit
from mrlkit import FinetuneConfig, finetune
from mrlkit.data import load_data
from mrlkit.errors import ConfigError, DataError
from mrlkit.evaluation import build_evaluator, evaluate_model

PAIRS = str(FIXTURES / "data" / "pairs.jsonl")


def _config(tiny_model_path, tmp_path, **kw):
    settings = {
        "data": str(FIXTURES / "data" / "pairs.jsonl"),
        "model": tiny_model_path,
        "output_dir": str(tmp_path / "out"),
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "eval_batch_size": 16,
        "logging_steps": 1,
    }
    settings.update(kw)
    return FinetuneConfig.load(None, **settings)


def _ndcg10(model, ir_set, dim):
    """Mean nDCG@10 (binary relevance) of ``model`` truncated to ``dim``, computed here without mrlkit."""
    qids, dids = list(ir_set.relevant), list(ir_set.corpus)
    q = model.encode([ir_set.queries[i] for i in qids], convert_to_tensor=True)[:, :dim]
    d = model.encode([ir_set.corpus[i] for i in dids], convert_to_tensor=True)[:, :dim]
    scores = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(d, dim=-1).T
    total = 0.0
    for row, qid in zip(scores, qids, strict=True):
        ranked = [dids[j] for j in row.argsort(descending=True)[:10].tolist()]
        dcg = sum(1 / math.log2(r + 2) for r, doc in enumerate(ranked) if doc in ir_set.relevant[qid])
        ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(ir_set.relevant[qid]))))
        total += dcg / ideal
    return total / len(qids)


def test_finetune_pairs_end_to_end(tiny_model_path, tmp_path, monkeypatch):
    ft = importlib.import_module("mrlkit.training.finetune")  # the module, not the function of that name
    capped = []
    monkeypatch.setattr(ft, "cap_mmap_threshold", lambda mb: capped.append(mb) or True)
    scored, selected = [], []  # what the report scored, and what picked the checkpoint
    monkeypatch.setattr(
        ft, "evaluate_model", lambda m, s, *a, **k: scored.append(s) or evaluate_model(m, s, *a, **k)
    )
    setup = importlib.import_module("mrlkit.training.data_setup")  # builds the dev evaluator
    monkeypatch.setattr(
        setup, "build_evaluator", lambda s, *a, **k: selected.append(s) or build_evaluator(s, *a, **k)
    )
    result = finetune(_config(tiny_model_path, tmp_path))
    assert capped == [0]  # the setting reaches the allocator once, before training (0: glibc's default)
    # one file, split three ways: dev picks the checkpoint, a disjoint test split is what the report scores
    data = load_data(FIXTURES / "data" / "pairs.jsonl")  # the same seeded split
    assert [s.queries for s in selected] == [data.eval.queries]
    assert [s.queries for s in scored] == [data.test.queries] * 2  # base, then tuned
    assert not set(data.test.queries.values()) & set(data.eval.queries.values())
    out = tmp_path / "out"
    for name in ("report.md", "report.json", "report.png", "config.yaml", "model/README.md"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert set(report["base"]) == set(report["tuned"]) == {"64", "32"}
    assert report["scored_on_selection_set"] is False and report["warning"] is None
    assert report["meta"]["test_source"] == "split: 0.1 of the anchors, seed 42"
    assert report["meta"]["test_set"] == "pairs-test" and report["meta"]["test_size"] == len(data.test)
    assert (out / "report.md").read_text().startswith("# mrlkit report")
    # the report's tuned numbers are the saved model's numbers, as computed here by hand
    saved_model = SentenceTransformer(str(out / "model"), device="cpu")
    assert report["tuned"]["64"]["ndcg@10"] == pytest.approx(_ndcg10(saved_model, data.test, 64), abs=1e-4)
    # the best checkpoint was chosen by the dev metric at the chosen dim (32: 128 is not trained)
    assert result.report.meta["best_model_metric"] == "eval_dev_dim32_ndcg@10"
    assert result.report.meta["best_checkpoint"] is not None
    # peak GPU memory is reported where there is a GPU, and is None (not 0) where there is none
    gpu_mb = result.report.meta["peak_gpu_memory_mb"]
    assert (gpu_mb > 0) if torch.cuda.is_available() else (gpu_mb is None)
    # training changed the weights and the model card mentions the Matryoshka loss
    before = SentenceTransformer(tiny_model_path, device="cpu")[0].auto_model.state_dict()
    after = saved_model[0].auto_model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before if "encoder.layer" in k)
    card = (out / "model" / "README.md").read_text()
    assert "MatryoshkaLoss" in card
    model = SentenceTransformer(str(out / "model"), truncate_dim=32, device="cpu")
    emb = model.encode(["a query", "a document"], convert_to_tensor=True)
    assert emb.shape == (2, 32)
    full = SentenceTransformer(str(out / "model"), device="cpu").encode(["a query"], convert_to_tensor=True)
    torch.testing.assert_close(emb[0], full[0, :32])


def test_tuned_model_learns_the_task(tiny_model_path, tmp_path):
    """A random tiny model trained on the pairs retrieves its own training pairs better than before."""
    pairs = str(FIXTURES / "data" / "pairs.jsonl")
    cfg = _config(
        tiny_model_path, tmp_path, epochs=8, eval_every_epoch=False, load_best_model=False, test_data=pairs
    )
    result = finetune(cfg)
    base, tuned = result.report.base, result.report.tuned
    assert tuned[64]["mrr@10"] > base[64]["mrr@10"]


def test_finetune_with_mined_hard_negatives(tiny_model_path, tmp_path):
    sample = Path(mrlkit.__file__).parent / "samples" / "scifact-mini"  # a corpus deeper than rank 50
    cfg = _config(
        tiny_model_path,
        tmp_path,
        data=str(sample),
        hard_negatives=1,
        epochs=1,
        max_train_rows=64,
        hard_negatives_range=[2, 30],
        hard_negatives_margin=0.0,
    )
    meta = finetune(cfg).report.meta
    mining = meta["hard_negatives"]
    assert mining["num_negatives"] == 1
    assert 0 < mining["rows_after"] <= mining["rows_before"]
    assert meta["train_rows"] == mining["rows_after"]
    assert "hard_negatives" in (tmp_path / "out" / "report.json").read_text()
    # every pair the miner could not serve is counted, and the row limit's cut too
    accounting = meta["data_accounting"]
    assert accounting["hard_negatives"] == mining and mining["pairs_in"] == 64  # distinct pairs after the cut
    assert mining["pairs_dropped"] == mining["pairs_in"] - mining["pairs_mined"]  # no own negatives to keep
    assert mining["user_negatives_replaced"] == 0 and mining["mode"] == "add"
    loaded = load_data(sample)
    assert accounting["rows_cut_by_max_train_rows"] == len(loaded.train) - 64
    assert accounting["train_rows"] == mining["rows_after"]
    text = (tmp_path / "out" / "report.md").read_text()
    assert f"{mining['pairs_dropped']} of 64 pairs dropped (no mined negative)" in text


@pytest.mark.parametrize(("distill", "label"), [(0.0, ""), (3.0, " + 3 x similarity distillation")])
def test_scored_pairs_use_cosent_and_spearman(tiny_model_path, tmp_path, distill, label):
    cfg = _config(
        tiny_model_path,
        tmp_path,
        data=str(FIXTURES / "data" / "scored.tsv"),
        score_range=[0, 5],
        similarity_distill_weight=distill,
    )
    result = finetune(cfg)
    assert result.report.task == "sts"
    assert "spearman" in result.report.tuned[32]
    assert result.report.meta["loss"] == "1d-matryoshka(cosent)" + label


def test_eval_data_picks_the_checkpoint_and_every_row_trains(tiny_model_path, tmp_path):
    """With eval_data, nothing is split off the training file and the dev scores come from eval_data."""
    data = FIXTURES / "data" / "scored.tsv"
    rows = len(data.read_text().splitlines()) - 1  # header
    cfg = _config(tiny_model_path, tmp_path, data=str(data), score_range=[0, 5], eval_data=str(data))
    result = finetune(cfg)
    assert result.report.meta["train_rows"] == rows
    assert result.report.meta["best_model_metric"] == "eval_dev_dim32_spearman"
    # no test_data: the report scores the eval file that picked the checkpoint, and says so first
    assert result.report.meta["test_size"] == rows
    assert result.report.meta["eval_source"] == str(data)
    assert result.report.meta["test_source"] == f"the dev set ({data})"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["scored_on_selection_set"] is True
    first = (tmp_path / "out" / "report.md").read_text().splitlines()[0]
    assert first.startswith("> **WARNING: these scores are on the selection set")


@pytest.mark.parametrize("loss", ["cached-mnrl", "mnrl"])
def test_triplets_and_cached_loss_and_2d(tiny_model_path, tmp_path, loss, monkeypatch):
    cfg = _config(
        tiny_model_path,
        tmp_path,
        data=str(FIXTURES / "data" / "triplets.csv"),
        loss=loss,
        mini_batch_size=2,
        matryoshka="2d" if loss == "mnrl" else "1d",
        epochs=1,
        warmup_ratio=0.0,  # 5 rows make one step; warm-up would give it learning rate 0 and train nothing
    )
    ft = importlib.import_module("mrlkit.training.finetune")
    losses_used = []
    real_trainer = ft.SentenceTransformerTrainer

    def spy(*args, **kwargs):
        losses_used.append(kwargs["loss"])
        return real_trainer(*args, **kwargs)

    monkeypatch.setattr(ft, "SentenceTransformerTrainer", spy)
    result = finetune(cfg)
    meta = result.report.meta
    assert meta["loss"] == {"cached-mnrl": "1d-matryoshka(cached-mnrl)", "mnrl": "2d-matryoshka(mnrl)"}[loss]
    assert meta["cpu_kernels"] is False  # opt-in
    # the loss the trainer got: the Matryoshka wrapper asked for, around the base loss asked for
    chain, inner = [], losses_used[0]
    while inner is not None:
        chain.append(type(inner).__name__)
        inner = getattr(inner, "loss", None)
    wrapper = "MatryoshkaLoss" if loss == "cached-mnrl" else "Matryoshka2dLoss"
    base_loss = {"cached-mnrl": "CachedMultipleNegativesRankingLoss", "mnrl": "MultipleNegativesRankingLoss"}
    assert len(losses_used) == 1 and chain[0] == wrapper and base_loss[loss] in chain[1:], chain
    assert ("CachedMultipleNegativesRankingLoss" in chain) == (loss == "cached-mnrl")
    # training moved the encoder's weights away from the base model's
    before = SentenceTransformer(tiny_model_path, device="cpu")[0].auto_model.state_dict()
    after = SentenceTransformer(str(result.model_path), device="cpu")[0].auto_model.state_dict()
    moved = [k for k in before if "encoder" in k and not torch.equal(before[k], after[k])]
    assert len(moved) == sum("encoder" in k for k in before)
    assert all(0.0 <= result.report.tuned[d]["ndcg@10"] <= 1.0 for d in result.report.dims)


def test_resume_continues_from_checkpoint(tiny_model_path, tmp_path):
    finetune(_config(tiny_model_path, tmp_path, epochs=1, save_total_limit=3))
    result = finetune(_config(tiny_model_path, tmp_path, epochs=2, resume=True, save_total_limit=3))
    # the resumed run trained only the second epoch: the trainer reports the global step reached
    assert result.train_metrics["epoch"] == pytest.approx(2.0)
    ckpts = sorted(p.name for p in (tmp_path / "out" / "checkpoints").glob("checkpoint-*"))
    # 14 train rows (21 unique pairs less 4 dev and 3 test rows) / batch 8 = 2 steps per epoch
    assert ckpts == ["checkpoint-2", "checkpoint-4"]


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"dims": [128, 64]}, ConfigError, "dim 128 is larger than the model's embedding dimension 64"),
        ({"dims": [32, 64]}, ConfigError, "not strictly descending"),
        ({"loss": "cosent"}, ConfigError, "needs scored pairs"),
        ({"best_dim": 16}, ConfigError, "best_dim 16 is not one of the trained dims"),
        (
            {"similarity_distill_weight": 1.0, "matryoshka": "2d"},
            ConfigError,
            "similarity_distill_weight works with matryoshka: 1d",
        ),
        pytest.param(
            {"precision": "bf16"},
            ConfigError,
            "precision 'bf16' needs a CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine can train in bf16"),
        ),
        pytest.param(
            {"precision": "fp16"},
            ConfigError,
            "precision 'fp16' needs a CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine can train in fp16"),
        ),
        ({"data": "missing.jsonl"}, DataError, "missing.jsonl"),
        ({"test_data": "missing-test.jsonl"}, DataError, "missing-test.jsonl"),
        ({"eval_data": "missing-dev.tsv"}, DataError, "missing-dev.tsv"),
        (  # scored training data is scored on STS pairs, not on retrieval data
            {"data": str(FIXTURES / "data" / "scored.tsv"), "score_range": [0, 5], "eval_data": PAIRS},
            DataError,
            "eval_data holds retrieval data but the training data is scored",
        ),
        (
            {"data": str(FIXTURES / "data" / "scored.tsv"), "score_range": [0, 5], "test_data": PAIRS},
            DataError,
            "test_data holds retrieval data but the training data is scored",
        ),
    ],
)
def test_bad_input_writes_nothing(tiny_model_path, tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        finetune(_config(tiny_model_path, tmp_path, **overrides))
    assert not (tmp_path / "out").exists()
