"""cnn-is-restricted-attention: part 1's construction is exact for several K (and fails with flat scores);
bad input through the CLI is one line and exit 2."""

import pytest

from mllab.cli import main
from mllab.core.config import make_config
from mllab.experiments.attention.cnn_attention import CnnAttentionConfig, _part_one, make_model
from mllab.models.vit import parameter_count


class _Run:  # the part of `Run` that `_part_one` reads
    seed = 0


def test_part_one_reproduces_random_convolutions_for_several_kernel_sizes():
    cfg = make_config(CnnAttentionConfig, "quick", ["kernels=1,3,5", "conv_images=2"])
    errors = _part_one(_Run(), cfg)["errors"]
    assert set(errors) == {"1", "3", "5"}
    assert max(e["float32"] for e in errors.values()) <= 1e-5
    assert max(e["float64"] for e in errors.values()) <= 1e-10


def test_part_one_fails_with_flat_positional_scores():
    cfg = make_config(CnnAttentionConfig, "quick", ["kernels=3", "conv_images=1", "beta=0"])
    assert _part_one(_Run(), cfg)["errors"]["3"]["float32"] > 1e-2


def test_arms_have_similar_parameter_counts():
    cfg = make_config(CnnAttentionConfig, "quick")
    counts = [parameter_count(make_model(kind, cfg)) for kind in ("cnn", "vit")]
    assert max(counts) / min(counts) <= cfg.param_tolerance


@pytest.mark.parametrize("override,field", [("patch=5", "patch"), ("kernels=2", "kernels"),
                                            ("sizes=100,5000", "sizes"), ("width=7", "width"), ("beta=-1", "beta")])
def test_bad_input_exits_2_with_one_line(override, field, tmp_path, capsys):
    code = main(["run", "cnn-is-restricted-attention", "--profile", "smoke", "--set", override,
                 "--out", str(tmp_path / "rec")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and field in err, err
    assert not (tmp_path / "rec").exists()
