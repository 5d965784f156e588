"""Components of the "training" section's experiments: sigmoid sums, configs, and smoke runs with numbers."""

import re

import pytest
import torch

from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments.training.approximation import SigmoidApproximationConfig, fit_together
from mllab.experiments.training.depth import DepthConfig
from mllab.experiments.training.regularization import OverfittingConfig
from mllab.models.sigmoids import SigmoidSum, hard_sigmoid


@pytest.mark.parametrize("kind", ["sigmoid", "hard"])
def test_sigmoid_sum_shape_and_formula(kind):
    model = SigmoidSum(5, kind, generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-1, 1, 7).unsqueeze(1)  # (7, 1)
    y = model(x)
    assert y.shape == (7, 1)
    z = x * model.w + model.b  # (7, 5)
    s = torch.sigmoid(z) if kind == "sigmoid" else torch.clamp(z, 0, 1)
    assert torch.allclose(y, model.bias + (s * model.c).sum(1, keepdim=True), atol=1e-6)


def test_hard_sigmoid_is_two_relus_and_saturates():
    z = torch.linspace(-3, 4, 701)
    assert torch.equal(hard_sigmoid(z), torch.relu(z) - torch.relu(z - 1))
    assert torch.all(hard_sigmoid(z[z <= 0]) == 0) and torch.all(hard_sigmoid(z[z >= 1]) == 1)
    inside = (z > 0) & (z < 1)
    assert torch.allclose(hard_sigmoid(z[inside]), z[inside])  # the ramp in between
    assert torch.allclose(hard_sigmoid(z), torch.nn.functional.hardtanh(z, 0.0, 1.0))


def test_sigmoid_sum_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SigmoidSum(3, "tanh")
    with pytest.raises(ValueError):
        SigmoidSum(0)


def test_fitting_together_equals_fitting_alone():
    cfg = SigmoidApproximationConfig(steps=20, restarts=1)
    x = torch.linspace(-1, 1, 16).unsqueeze(1)
    specs = [("sigmoid", 3, 1), ("hard", 4, 2)]
    together = fit_together(specs, x, cfg)
    for spec, model in zip(specs, together):
        alone = fit_together([spec], x, cfg)[0]
        for a, b in zip(model.parameters(), alone.parameters()):
            assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert not torch.allclose(together[0].c, SigmoidSum(3, generator=torch.Generator().manual_seed(1)).c)  # it trained


def test_overfitting_config_rejects_unknown_dataset():
    with pytest.raises(BadInput, match="dataset"):
        make_config(OverfittingConfig, "quick", ["dataset=imagenet"])
    with pytest.raises(BadInput, match="dropout"):
        make_config(OverfittingConfig, "quick", ["dropout=1.0"])
    assert make_config(OverfittingConfig, "quick", ["dataset=mnist5k"]).dataset == "mnist5k"


def test_other_configs_reject_bad_values():
    with pytest.raises(BadInput, match="depths"):
        make_config(DepthConfig, "quick", ["depths=8,2"])
    with pytest.raises(BadInput, match="activation"):
        make_config(DepthConfig, "quick", ["activation=gelu"])
    with pytest.raises(BadInput, match="sizes"):
        make_config(SigmoidApproximationConfig, "quick", ["sizes=4,2"])


def test_overfitting_needs_data_dir_for_mnist(tmp_path):
    with pytest.raises(BadInput, match="data-dir"):
        execute(REGISTRY["overfitting"], profile="smoke", overrides=["dataset=mnist"], out=tmp_path / "rec",
                device="cpu")
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize("name", ["overfitting", "sigmoid-approximation", "model-bias-vs-optimization"])
def test_smoke_run_checks_carry_numbers(name, tmp_path):
    result, _ = execute(REGISTRY[name], profile="smoke", out=tmp_path / "rec", device="cpu")
    assert result["verdict"] in ("holds", "fails"), result.get("error")
    assert len(result["checks"]) >= 2
    for check in result["checks"]:
        assert re.search(r"\d\.\d", check["observed"]), check  # a measured number, not just words
        assert check["expected"]
    assert result["metrics"]
