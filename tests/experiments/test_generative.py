"""Section "generative": configs validate per field, bad input is one line and exit 2 through the CLI."""

import dataclasses

import pytest

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.experiments.generative.js_vs_wasserstein import JsVsWassersteinConfig
from mllab.experiments.generative.autoencoder import AutoencoderConfig
from mllab.experiments.generative.gan_digits import GanDigitsConfig
from mllab.experiments.generative.mode_collapse import ModeCollapseConfig
from mllab.experiments.generative.wasserstein_tracks_quality import WassersteinTracksQualityConfig, tracking

CONFIGS = [JsVsWassersteinConfig, ModeCollapseConfig, AutoencoderConfig, GanDigitsConfig,
           WassersteinTracksQualityConfig]


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_numeric_field_has_an_explicit_rule(cls):
    numeric = [f.name for f in dataclasses.fields(cls)
               if f.type in ("int", "float", "tuple[float, ...]", "tuple[int, ...]")]
    assert [n for n in numeric if n not in cls.rules] == []


@pytest.mark.parametrize("overrides, fragment", [
    (["n_critic=0"], "n_critic"), (["penalty_weight=-1"], "penalty_weight"), (["objectives=gan,dcgan"], "dcgan"),
    (["latent_dim=0"], "latent_dim"), (["mixtures=spiral"], "spiral"), (["objectives=lsgan,wgan"], "must include gan"),
])
def test_mode_collapse_bad_values(overrides, fragment):
    with pytest.raises(BadInput, match=fragment) as info:
        make_config(ModeCollapseConfig, "quick", overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("argv, fragment", [
    (["run", "mode-collapse", "--set", "n_critic=0"], "n_critic"),
    (["run", "mode-collapse", "--set", "penalty_weight=-0.5"], "penalty_weight"),
    (["run", "mode-collapse", "--set", "objectives=gan,wgan-gq"], "wgan-gq"),
    (["run", "mode-collapse", "--set", "latent_dim=0"], "latent_dim"),
    (["run", "js-vs-wasserstein", "--set", "far=0,2"], "far"),
    (["run", "autoencoder", "--set", "code_sizes=2,64"], "code_sizes"),
    (["run", "autoencoder", "--set", "anomaly_class=10"], "anomaly_class"),
    (["run", "autoencoder", "--set", "activation=tanh"], "activation"),
    (["run", "gan-digits", "--set", "latent_dim=0"], "latent_dim"),
    (["run", "gan-digits", "--set", "generator_lr=-1"], "generator_lr"),
    (["run", "gan-digits", "--set", "objective=dcgan"], "objective"),
    (["run", "wasserstein-tracks-quality", "--set", "penalty_weight=-1"], "penalty_weight"),
    (["run", "wasserstein-tracks-quality", "--set", "n_critic=0"], "n_critic"),
    (["run", "wasserstein-tracks-quality", "--set", "checkpoints=2"], "checkpoints"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(argv + ["--out", str(tmp_path / "rec")])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err
    assert not (tmp_path / "rec").exists()


def test_tracking_is_minus_spearman_and_zero_when_constant():
    rows = [{"reading": r, "high_quality": q} for r, q in zip([3.0, 2.0, 2.5, 1.0], [0.1, 0.2, 0.15, 0.9])]
    assert tracking(rows) == pytest.approx(1.0)  # the reading falls exactly as quality rises (in rank)
    rows = [{"reading": r, "high_quality": q} for r, q in zip([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])]
    assert tracking(rows) == pytest.approx(-1.0)
    assert tracking([{"reading": r, "high_quality": 0.0} for r in (1.0, 2.0, 3.0)]) == 0.0
