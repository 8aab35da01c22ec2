"""cpu_kernels: cheaper dropout masks and recomputed attention dropout, checked against torch references."""

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


def test_cpu_attention_without_dropout_is_sdpa():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = _qkv(1)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[0, ..., 4] = False
    out, _ = cpu_attention(_Encoder(), q, k, v, mask, dropout=0.0, scaling=0.5)
    want, _ = sdpa_attention_forward(_Encoder(), q, k, v, mask, dropout=0.0, scaling=0.5)
    assert torch.equal(out, want)


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
