"""Attention: the written-out path, the fused (SDPA) path, the banded path and nn.MultiheadAttention with copied
weights agree (forward and backward, with every mask); masks hide what they must; bad input is one line."""

import math

import pytest
import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.attention import (
    AdditiveScore,
    MultiHeadAttention,
    attend,
    banded_attention,
    causal_allowed,
    combine_allowed,
    window_allowed,
)

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
MASKS = ["none", "padding", "causal", "window", "padding+causal", "padding+window"]


def setup(dtype, seed=0, B=3, n=11, D=12, h=3):
    torch.manual_seed(seed)
    layer = MultiHeadAttention(D, h).to(dtype)
    x = torch.randn(B, n, D, dtype=dtype)
    padding = torch.zeros(B, n, dtype=torch.bool)
    padding[1, 7:] = True  # sequence 1 has 7 tokens, sequence 2 has 4
    padding[2, 4:] = True
    return layer, x, padding


def mask_args(kind, padding):
    args = {}
    if "padding" in kind:
        args["padding"] = padding
    if "causal" in kind:
        args["causal"] = True
    if "window" in kind:
        args["window"] = 2
    return args


def torch_reference(layer, x, args):
    """nn.MultiheadAttention with the same weights and the same masks (float mask: -inf where hidden)."""
    ref = layer.to_torch()
    n = x.shape[1]
    allowed = combine_allowed(n, n, causal=args.get("causal", False), window=args.get("window"))
    attn_mask = None if allowed is None else torch.zeros(n, n, dtype=x.dtype).masked_fill(~allowed, float("-inf"))
    padding = args.get("padding")
    if padding is not None:  # the same mask type as attn_mask (torch warns on mixed types)
        padding = torch.zeros(padding.shape, dtype=x.dtype).masked_fill(padding, float("-inf"))
    out, _ = ref(x, x, x, key_padding_mask=padding, attn_mask=attn_mask, need_weights=False)
    return out, ref


def grads(out, x, params, valid):
    """Gradient of a fixed random projection of the valid outputs w.r.t. x and the parameters."""
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(out.shape, generator=g, dtype=out.dtype) * valid[..., None]
    return torch.autograd.grad((out * weight).sum(), [x, *params])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", MASKS)
def test_explicit_fast_banded_and_torch_agree_forward_and_backward(dtype, kind):
    layer, x, padding = setup(dtype)
    x.requires_grad_(True)
    args = mask_args(kind, padding)
    valid = ~padding if "padding" in kind else torch.ones_like(padding)  # padded queries' outputs are ignored
    impls = ["explicit", "fast"] + (["banded"] if "window" in kind else [])
    results = {impl: layer(x, impl=impl, **args) for impl in impls}
    ref_out, ref = torch_reference(layer, x, args)
    ours_params = [layer.w_q.weight, layer.w_k.weight, layer.w_v.weight, layer.w_o.weight, layer.w_o.bias]
    reference_grads = grads(ref_out, x, [ref.in_proj_weight, ref.out_proj.weight, ref.out_proj.bias], valid)
    for impl, out in results.items():
        diff = ((out - ref_out) * valid[..., None]).abs().max().item()
        assert diff <= TOL[dtype], (impl, diff)
        g = grads(out, x, ours_params, valid)
        in_proj = torch.cat([g[1], g[2], g[3]])
        for mine, theirs in ((g[0], reference_grads[0]), (in_proj, reference_grads[1]), (g[4], reference_grads[2]),
                             (g[5], reference_grads[3])):
            assert (mine - theirs).abs().max().item() <= TOL[dtype], impl


def test_a_padded_position_gives_and_receives_no_attention():
    layer, x, padding = setup(torch.float64)
    x.requires_grad_(True)
    for impl in ("explicit", "fast"):
        out = layer(x, padding=padding, impl=impl)
        (grad,) = torch.autograd.grad((out * (~padding)[..., None]).sum(), [x])
        assert torch.equal(grad[padding], torch.zeros_like(grad[padding]))  # exactly zero: nothing flows in
        assert grad[~padding].abs().sum() > 0
    _, weights = layer(x, padding=padding, return_weights=True)
    assert torch.equal(weights[2, :, :, 4:], torch.zeros_like(weights[2, :, :, 4:]))  # no one attends to padding


def test_fully_padded_sequence_gives_zero_not_nan():
    layer, x, padding = setup(torch.float64)
    padding[0] = True
    x.requires_grad_(True)
    for impl in ("explicit", "fast"):
        out = layer(x, padding=padding, impl=impl)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("n,window,block", [(50, 0, None), (50, 3, None), (97, 7, 5), (64, 40, None), (13, 20, 4)])
def test_banded_equals_full_attention_with_the_window_mask(n, window, block):
    torch.manual_seed(n + window)
    q, k, v = (torch.randn(2, 3, n, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    padding = torch.zeros(2, n, dtype=torch.bool)
    padding[1, n // 2:] = True
    bias = torch.randn(3, 2 * window + 1, dtype=torch.float64, requires_grad=True)
    for causal in (False, True):
        out = banded_attention(q, k, v, window, padding=padding, causal=causal, band_bias=bias, block=block)
        from mllab.layers.attention import band_to_full
        allowed = combine_allowed(n, n, padding=padding, causal=causal, window=window)
        full, _ = attend(q, k, v, allowed, band_to_full(bias, n, n))
        assert (out - full).abs().max() <= 1e-10
        g1 = torch.autograd.grad(out.sum(), [q, k, v, bias])
        g2 = torch.autograd.grad(full.sum(), [q, k, v, bias])
        assert max((a - b).abs().max().item() for a, b in zip(g1, g2)) <= 1e-10


def test_truncated_equals_full_when_the_window_covers_the_sequence():
    layer, x, padding = setup(torch.float64)
    n = x.shape[1]
    full = layer(x, padding=padding)
    for impl in ("explicit", "fast", "banded"):
        assert (layer(x, padding=padding, window=n - 1, impl=impl) - full)[~padding].abs().max() <= 1e-10


def test_banded_memory_grows_linearly_never_n_squared():
    """The saved-for-backward bytes of the banded path at n = 4096, w = 8 stay far below one n × n matrix."""
    q, k, v = (torch.randn(1, 1, 4096, 8, requires_grad=True) for _ in range(3))
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        banded_attention(q, k, v, 8).sum().backward()
    assert max(saved) < 4096 * 4096 * 4 / 20


def test_masks_are_what_they_say():
    assert torch.equal(causal_allowed(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.equal(window_allowed(4, 1).sum(1), torch.tensor([2, 3, 3, 2]))


def test_permutation_equivariance_without_positions():
    layer, x, _ = setup(torch.float64)
    perm = torch.randperm(x.shape[1])
    for impl in ("explicit", "fast"):
        assert (layer(x[:, perm], impl=impl) - layer(x, impl=impl)[:, perm]).abs().max() <= 1e-12


def test_additive_score_is_the_formula_and_attends():
    torch.manual_seed(0)
    score = AdditiveScore(4, 5).double()
    q, k = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 6, 4, dtype=torch.float64)
    alpha = score(q, k)
    i, j = 1, 4
    by_hand = score.w.weight[0] @ torch.tanh(score.w_q.weight @ q[0, i] + score.w_k.weight @ k[0, j])
    assert alpha.shape == (2, 3, 6) and math.isclose(alpha[0, i, j].item(), by_hand.item(), abs_tol=1e-12)
    out, weights = attend(q[:, None], k[:, None], k[:, None], scores=alpha[:, None])
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1, 3, dtype=torch.float64))


def test_cross_attention_matches_torch():
    torch.manual_seed(3)
    layer = MultiHeadAttention(8, 2).double()
    x, memory = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 7, 8, dtype=torch.float64)
    ref, _ = layer.to_torch()(x, memory, memory, need_weights=False)
    assert (layer(x, memory) - ref).abs().max() <= 1e-12


def test_bad_inputs_are_one_line():
    with pytest.raises(BadInput, match="must divide the width"):
        MultiHeadAttention(10, 3)
    layer, x, padding = setup(torch.float32)
    with pytest.raises(BadInput, match="window"):
        layer(x, window=-1)
    with pytest.raises(BadInput, match="padding mask"):
        layer(x, padding=padding[:, :5])
    with pytest.raises(BadInput, match="padding mask"):
        layer(x, padding=padding.float())
    with pytest.raises(BadInput, match="impl"):
        MultiHeadAttention(12, 3, impl="magic")
    for error in (BadInput("x"),):
        assert "\n" not in str(error)


def test_nn_module_equality_holds_under_float32_on_longer_sequences():
    layer, x, padding = setup(torch.float32, n=64, D=32, h=4)
    ref_out, _ = torch_reference(layer, x, {"padding": padding})
    out = layer(x, padding=padding)
    assert ((out - ref_out)[~padding]).abs().max() <= 1e-5
    assert isinstance(layer.to_torch(), nn.MultiheadAttention)
