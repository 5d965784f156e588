"""The cnn section's experiments: bad input through the CLI (one line, exit 2, no record) and the receptive-field
apparatus (the formula flagged exact on every stack the experiment judges)."""

import pytest

from mllab.cli import main
from mllab.experiments.cnn.receptive_field import STACKS
from mllab.layers.conv import receptive_field


@pytest.mark.parametrize("name,override,field", [
    ("receptive-field", "image=3", "kernel"),  # the kernel is larger than the (padded) input
    ("receptive-field", "stacks=spiral", "stacks"),
    ("pooling", "board_size=4", "board_size"),  # cannot hold five in a row
    ("pooling", "digit_steps=0", "digit_steps"),
    ("parameter-sharing", "sizes=5000", "sizes"),
    ("parameter-sharing", "lrs=-0.1", "lrs"),
    ("scale-rotation", "scale_low=2", "scale_low"),
    ("scale-rotation", "aug_angle=-5", "aug_angle"),
])
def test_bad_input_is_one_line_and_exit_2(name, override, field, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(["run", name, "--profile", "smoke", "--set", override, "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and field in err, err
    assert not out.exists()


@pytest.mark.parametrize("name", list(STACKS))
def test_judged_stacks_are_in_the_exact_regime(name):
    assert all(info.exact for info in receptive_field(STACKS[name], (1, 28, 28)))
