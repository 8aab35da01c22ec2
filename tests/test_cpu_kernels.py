"""cpu_kernels: cheaper dropout masks and recomputed attention dropout, checked against torch references."""

import importlib
import json

import pytest
import torch
from sentence_transformers import SentenceTransformer
from torch import nn

from mrlkit.training import cpu_kernels as ck
from mrlkit.training.cpu_kernels import FastDropout, cpu_attention, cpu_training_kernels, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_mask_rate_and_seed(p):
    torch.manual_seed(0)
    mask = keep_mask((1000, 1000), p)
    assert mask.dtype == torch.bool
    # 10^6 draws: the kept fraction is within 5 standard deviations of 1 - p
    assert abs(mask.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / 1e6) ** 0.5
    torch.manual_seed(0)
    assert torch.equal(keep_mask((1000, 1000), p), mask)  # seeded by the default generator
    assert not torch.equal(keep_mask((1000, 1000), p), mask)


def test_dropout_matches_inverted_dropout_and_its_gradient():
    x = torch.randn(64, 48, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(1)
    out = dropout(x, 0.25)
    kept = out != 0
    assert 0.6 < kept.double().mean() < 0.9
    torch.testing.assert_close(out[kept], x[kept] / 0.75)  # survivors scaled by 1 / (1 - p)
    weights = torch.randn_like(x)
    (out * weights).sum().backward()
    torch.testing.assert_close(x.grad, weights * kept / 0.75)  # the same mask in backward
    assert dropout(x, 0.25, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_fast_dropout_is_a_drop_in_module():
    layer = nn.Dropout(0.2)
    layer.__class__ = FastDropout
    assert layer.p == 0.2 and layer.state_dict() == {}
    x = torch.ones(10_000)
    assert 0.7 < (layer(x) != 0).float().mean() < 0.9
    layer.eval()
    assert torch.equal(layer(x), x)


def _reference_attention(q, k, v, mask, keep, p, scale):
    """Eager attention with a given dropout mask: softmax(q k^T s + mask) * keep / (1 - p) @ v."""
    scores = q @ k.transpose(-1, -2) * scale
    scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores, dim=-1) * keep / (1 - p)
    return (probs @ v).transpose(1, 2)


def _qkv(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, 5, 4, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(3)]


class _Encoder(nn.Module):
    is_causal = False


@pytest.mark.parametrize("mask_kind", ["bool", "float", "none"])
def test_cpu_attention_matches_eager_reference(monkeypatch, mask_kind):
    q, k, v = _qkv()
    pad = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    pad[1, ..., 3:] = False  # the second sequence's last two keys are padding
    mask = {"bool": pad, "float": torch.where(pad, 0.0, -1e4).double(), "none": None}[mask_kind]
    keep = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(3)) > 0.3
    monkeypatch.setattr(ck, "keep_mask", lambda shape, p, device: keep)
    out, _ = cpu_attention(_Encoder(), q, k, v, mask, dropout=0.3, scaling=0.7)
    ref_mask = torch.ones_like(pad) if mask is None else mask
    refs = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    ref = _reference_attention(*refs, ref_mask, keep, 0.3, 0.7)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(ref)
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
    ref_grads = torch.autograd.grad((ref * weights).sum(), refs)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_cpu_attention_without_dropout_matches_eager_attention():
    q, k, v = _qkv(1)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[0, ..., 4] = False
    out, _ = cpu_attention(_Encoder(), q, k, v, mask, dropout=0.0, scaling=0.5)
    no_drop = torch.ones(2, 3, 5, 5, dtype=torch.bool)
    want = _reference_attention(q, k, v, mask, no_drop, 0.0, 0.5)  # computed here, not by SDPA
    torch.testing.assert_close(out, want)
    assert not torch.allclose(out, _reference_attention(q, k, v, torch.ones_like(mask), no_drop, 0.0, 0.5))


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_fully_masked_row_gives_zeros_as_sdpa_does(dropout_p):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = _qkv(4)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, 0, 2, :] = False  # query 2 of the second sequence may attend to no key
    out, _ = cpu_attention(_Encoder(), q, k, v, mask, dropout=dropout_p, scaling=0.5)
    want, _ = sdpa_attention_forward(_Encoder(), q, k, v, mask, dropout=dropout_p, scaling=0.5)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1, 2], torch.zeros_like(out[1, 2])) and torch.equal(want[1, 2], out[1, 2])
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.equal(grads[0][1, :, 2], torch.zeros_like(grads[0][1, :, 2]))  # no gradient through it


def test_context_swaps_and_restores(tiny_model_path, tmp_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    bert = model[0].auto_model
    texts = ["a short query", "a somewhat longer document about a query", "x"]
    before = model.encode(texts, convert_to_tensor=True)
    n_dropouts = sum(type(m) is nn.Dropout for m in model.modules())
    with cpu_training_kernels(model) as changed:
        assert changed == n_dropouts + 1  # every dropout module, and the one attention setting
        assert bert.config._attn_implementation == ck.ATTENTION_NAME
        assert not any(type(m) is nn.Dropout for m in model.modules())
        # eval mode is untouched: no dropout, and attention goes to SDPA
        torch.testing.assert_close(model.encode(texts, convert_to_tensor=True), before)
        model.train()
        features = model.tokenize(texts)
        a, b = (model(dict(features))["sentence_embedding"] for _ in range(2))
        assert not torch.allclose(a, b)  # dropout is active in training
        a.sum().backward()
        assert all(p.grad is not None for p in bert.encoder.parameters())
        model.save(str(tmp_path / "saved"))
        model.eval()
    assert bert.config._attn_implementation == "sdpa"
    assert sum(type(m) is nn.Dropout for m in model.modules()) == n_dropouts
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert ck.ATTENTION_NAME not in json.dumps(config)  # a saved model loads without mrlkit
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert reloaded[0].auto_model.config._attn_implementation == "sdpa"


def test_context_does_nothing_when_off_or_on_gpu(tiny_model_path, monkeypatch):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    with cpu_training_kernels(model, enabled=False) as changed:
        assert changed == 0 and model[0].auto_model.config._attn_implementation == "sdpa"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with cpu_training_kernels(model) as changed:
        assert changed == 0 and any(type(m) is nn.Dropout for m in model.modules())


def test_masks_replay_from_the_rng_state(tiny_model_path):
    """CachedMultipleNegativesRankingLoss replays dropout by restoring torch's CPU RNG state."""
    model = SentenceTransformer(tiny_model_path, device="cpu")
    model.train()
    features = dict(model.tokenize(["one text", "and another, longer text"]))
    with cpu_training_kernels(model):
        state = torch.get_rng_state()
        first = model(dict(features))["sentence_embedding"]
        torch.set_rng_state(state)
        again = model(dict(features))["sentence_embedding"]
    assert torch.equal(first, again)


def test_cpu_attention_leaves_causal_attention_and_softcap_to_sdpa():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    class Decoder(nn.Module):
        is_causal = True

    q, k, v = _qkv(2)
    torch.manual_seed(7)
    out, _ = cpu_attention(Decoder(), q, k, v, None, dropout=0.2, scaling=0.5)
    torch.manual_seed(7)
    want, _ = sdpa_attention_forward(Decoder(), q, k, v, None, dropout=0.2, scaling=0.5)
    assert torch.equal(out, want)  # SDPA itself, with its own dropout, from the same RNG state
    with pytest.raises(ValueError, match="softcap"):
        cpu_attention(_Encoder(), q, k, v, None, dropout=0.2, softcap=30.0)


ANCHORS = ["what causes rain", "a query about cells", "protein folding", "x"]
POSITIVES = ["clouds release water", "cells divide by mitosis", "proteins fold into shapes", "y y y y"]


def _model(path, dropout_p):
    torch.manual_seed(0)
    model = SentenceTransformer(path, device="cpu")
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = dropout_p
    return model


def _loss_and_grads(model, loss_fn, kernels, seed=5):
    """One training step's loss and parameter gradients, from a fixed RNG state."""
    features = [dict(model.preprocess(ANCHORS)), dict(model.preprocess(POSITIVES))]
    model.zero_grad()
    model.train()
    with cpu_training_kernels(model, enabled=kernels) as changed:
        assert (changed > 0) == kernels
        torch.manual_seed(seed)
        value = loss_fn([dict(f) for f in features], None)
        value.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    used = {n for n, _ in model.named_parameters() if "pooler" not in n}  # BERT's pooler is unused
    assert used <= grads.keys()
    return value.detach(), grads


def _assert_same(a, b):
    (va, ga), (vb, gb) = a, b
    torch.testing.assert_close(va, vb, atol=1e-5, rtol=1e-5)
    assert ga.keys() == gb.keys()
    for name in ga:
        torch.testing.assert_close(ga[name], gb[name], atol=1e-5, rtol=1e-4, msg=name)


def _reference_mnrl(model, mini_batch_size):
    """MNRL computed by hand over mini-batch forwards in the cached loss's order (same dropout masks).

    The mini-batches are cut by sentence-transformers' own helper, which also trims their padding,
    so that each forward sees the shapes (and so draws the masks) that the cached loss's forward does.
    """
    from sentence_transformers.base.losses.gradcache import _create_minibatch

    def loss_fn(features, labels):
        embeddings = []
        for f in features:  # anchors, then positives; each in mini-batches, as the cached loss embeds
            n = len(f["input_ids"])
            parts = [
                model(_create_minibatch(f, i, i + mini_batch_size))["sentence_embedding"]
                for i in range(0, n, mini_batch_size)
            ]
            embeddings.append(torch.cat(parts))
        a, p = (nn.functional.normalize(e, dim=-1) for e in embeddings)
        return nn.functional.cross_entropy(20.0 * a @ p.T, torch.arange(len(a)))

    return loss_fn


def test_cached_loss_gradients_match_the_stock_path_without_dropout(tiny_model_path):
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    model = _model(tiny_model_path, 0.0)
    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    _assert_same(_loss_and_grads(model, loss, kernels=True), _loss_and_grads(model, loss, kernels=False))


def test_cached_loss_gradients_with_dropout_match_an_eager_reference_with_the_same_masks(tiny_model_path):
    """The cached loss replays each mini-batch's masks from the RNG state: its gradient is exact."""
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    model = _model(tiny_model_path, 0.2)
    cached = _loss_and_grads(model, CachedMultipleNegativesRankingLoss(model, mini_batch_size=2), True)
    reference = _loss_and_grads(model, _reference_mnrl(model, 2), True)
    _assert_same(cached, reference)
    # dropout is on: another RNG state draws other masks and another gradient
    other = _loss_and_grads(model, _reference_mnrl(model, 2), True, seed=6)
    assert not torch.allclose(other[0], reference[0])


@pytest.mark.parametrize("dropout_p", [0.0, 0.2])
def test_gradient_checkpointing_gives_the_same_gradients(tiny_model_path, dropout_p):
    """Checkpointed layers recompute their forward in backward; the kernels must redraw the same masks."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = _model(tiny_model_path, dropout_p)
    loss = MultipleNegativesRankingLoss(model)
    plain = _loss_and_grads(model, loss, kernels=True)
    model[0].auto_model.gradient_checkpointing_enable({"use_reentrant": False})
    checkpointed = _loss_and_grads(model, loss, kernels=True)
    _assert_same(checkpointed, plain)
    if dropout_p == 0.0:  # and without dropout the kernel path is the stock path
        _assert_same(checkpointed, _loss_and_grads(model, loss, kernels=False))


def test_kernels_are_opt_in_and_the_report_says_whether_they_ran(tiny_model_path, tmp_path, monkeypatch):
    from conftest import FIXTURES

    from mrlkit import FinetuneConfig, finetune

    assert FinetuneConfig().cpu_kernels is False
    ft = importlib.import_module("mrlkit.training.finetune")  # the module, not the function of that name
    entered = []
    real = ft.cpu_training_kernels
    spy = lambda m, enabled: entered.append(enabled) or real(m, enabled)  # noqa: E731
    monkeypatch.setattr(ft, "cpu_training_kernels", spy)
    settings = dict(
        data=str(FIXTURES / "data" / "pairs.jsonl"),
        model=tiny_model_path,
        epochs=1,
        batch_size=8,
        evaluate_base=False,
        eval_every_epoch=False,
    )
    config = FinetuneConfig.load(None, output_dir=str(tmp_path), **settings)
    config.cpu_kernels = True  # the opt-in (a default run's meta says false: test_finetune)
    report = json.loads((finetune(config).output_dir / "report.json").read_text())
    assert report["meta"]["cpu_kernels"] is True and entered == [True]
    assert not ck.kernels_apply(False)
