"""Each attribution method equals Captum's (pinned 0.9.0) on the same model, inputs, baselines and random draws."""

import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import InputXGradient, IntegratedGradients, Lime, NoiseTunnel, Saliency
from captum.attr._core.lime import get_exp_kernel_similarity_function

from mllab.core.errors import BadInput
from mllab.explain import (
    block_segments,
    draw_masks,
    gradient,
    gradient_x_input,
    integrated_gradients,
    lime,
    saliency,
    slic_segments,
    smoothgrad,
)
from mllab.models.cnn import CNN

TOL = 1e-6


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CNN(1, 10, channels=(4, 8), head="flatten").eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_saliency_gradient_and_input_x_gradient_equal_captum(model, x):
    target = torch.tensor([3, 0, 7])
    assert torch.allclose(saliency(model, x, target), Saliency(model).attribute(x, target=target), atol=TOL, rtol=0)
    assert torch.allclose(gradient(model, x, target), Saliency(model).attribute(x, target=target, abs=False),
                          atol=TOL, rtol=0)
    assert torch.allclose(gradient_x_input(model, x, target), InputXGradient(model).attribute(x, target=target),
                          atol=TOL, rtol=0)
    assert saliency(model, x, target).abs().sum() > 0  # not trivially equal


@pytest.mark.parametrize("absolute", [True, False])
def test_smoothgrad_equals_noise_tunnel_on_the_same_draws(model, x, absolute):
    std = 0.15  # the images span [0, 1] (nearly): Captum's stdevs are in input units
    torch.manual_seed(5)
    ours = smoothgrad(model, x, 2, n=7, std=std, absolute=absolute, batch_size=4)  # chunked: 21 copies, 4 per pass
    torch.manual_seed(5)
    theirs = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=7, stdevs=std, target=2,
                                                     abs=absolute)
    assert torch.allclose(ours, theirs, atol=TOL, rtol=0)
    assert not torch.allclose(ours, saliency(model, x, 2) if absolute else gradient(model, x, 2), atol=1e-3)


def test_smoothgrad_noise_is_a_fraction_of_the_range(model):
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 4 - 1  # range ≈ 4
    span = float(x.max() - x.min())
    a = smoothgrad(model, x, 1, n=5, noise=0.1, generator=torch.Generator().manual_seed(3))
    b = smoothgrad(model, x, 1, n=5, std=0.1 * span, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.allclose(smoothgrad(model, x, 1, n=3, noise=0.0), saliency(model, x, 1), atol=TOL, rtol=0)


def test_integrated_gradients_equal_captum(model, x):
    baseline = torch.full_like(x, 0.1)
    ours = integrated_gradients(model, x, 4, baseline, n_steps=20, batch_size=16)
    theirs = IntegratedGradients(model).attribute(x, baselines=baseline, target=4, n_steps=20)
    assert torch.allclose(ours, theirs, atol=TOL, rtol=0)
    ours_t = integrated_gradients(model, x, 4, n_steps=9, method="riemann_trapezoid")
    theirs_t = IntegratedGradients(model).attribute(x, target=4, n_steps=9, method="riemann_trapezoid")
    # Captum's trapezoid weights are h/2, h, …, h/2 with h = 1/n (they sum to 1 − 1/n); the rule's h is 1/(n − 1)
    assert torch.allclose(ours_t, theirs_t * 9 / 8, atol=TOL, rtol=0)
    # completeness: Σ IG = y_c(x) − y_c(x') up to quadrature error
    with torch.no_grad():
        gap = model(x)[:, 4] - model(baseline)[:, 4]
    assert torch.allclose(ours.flatten(1).sum(1), gap, atol=0.05 * float(gap.abs().max()) + 1e-3)


def _captum_lime(model, x, target, segments, masks, similarity, alpha):
    samples = iter(masks)
    return Lime(model, interpretable_model=SkLearnRidge(alpha=alpha), similarity_func=similarity,
                perturb_func=lambda inputs, **kw: next(samples)[None]).attribute(
        x, target=target, feature_mask=segments[None, None], n_samples=len(masks), perturbations_per_eval=64,
        return_input_shape=False)[0]


def _interpretable_kernel(width):
    def similarity(original, perturbed, interpretable, **kw):  # cosine distance between z and the all-on vector
        z = interpretable.float().flatten()
        d = 1 - torch.nn.functional.cosine_similarity(z.double(), torch.ones_like(z).double(), dim=0)
        return float(torch.exp(-d ** 2 / (2 * width ** 2)))
    return similarity


@pytest.mark.parametrize("distance,width", [("input", 1.0), ("interpretable", 0.25)])
def test_lime_equals_captum_on_the_same_perturbations(model, x, distance, width):
    probs = torch.nn.Sequential(model, torch.nn.Softmax(1)).eval()
    segments = block_segments(28, 28, 7)  # 16 blocks
    masks = draw_masks(300, 16, torch.Generator().manual_seed(4))
    ours = lime(probs, x[:1], 6, segments, masks=masks, distance=distance, kernel_width=width, alpha=0.1,
                batch_size=50)
    similarity = (get_exp_kernel_similarity_function("cosine", width) if distance == "input"
                  else _interpretable_kernel(width))
    theirs = _captum_lime(probs, x[:1], 6, segments, masks, similarity, 0.1)
    assert torch.allclose(ours.weights, theirs, atol=TOL, rtol=0)
    assert ours.weights.abs().max() > 1e-4 and 0 <= ours.fidelity <= 1


def test_block_and_slic_segments_cover_the_image():
    seg = block_segments(8, 8, 2)
    assert seg.shape == (8, 8) and seg.max() == 15 and torch.equal(seg[:2, :2], torch.zeros(2, 2, dtype=torch.long))
    image = torch.zeros(1, 28, 28)
    image[:, :, 14:] = 1.0
    slic = slic_segments(image, n_segments=8, compactness=0.1, sigma=0.0)
    assert slic.shape == (28, 28) and slic.min() == 0
    assert set(slic[:, :14].unique().tolist()).isdisjoint(slic[:, 14:].unique().tolist())  # follows the edge


@pytest.mark.parametrize("call,field", [
    (lambda m, x: saliency(m, x, 10), "target"),
    (lambda m, x: saliency(m, x, -1), "target"),
    (lambda m, x: smoothgrad(m, x, 1, n=0), "n"),
    (lambda m, x: smoothgrad(m, x, 1, noise=-0.1), "σ"),
    (lambda m, x: lime(m, x[:1], 1, block_segments(14, 14, 2)), "segments"),
    (lambda m, x: lime(m, x[:1], 1, block_segments(28, 28, 7), n_samples=0), "n_samples"),
    (lambda m, x: lime(m, x[:1], 11, block_segments(28, 28, 7), n_samples=5), "target"),
    (lambda m, x: integrated_gradients(m, x, 1, n_steps=0), "n_steps"),
])
def test_bad_input_is_one_line_naming_the_field(model, x, call, field):
    with pytest.raises(BadInput) as info:
        call(model, x)
    message = str(info.value)
    assert field in message and "\n" not in message
