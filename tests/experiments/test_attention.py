"""The attention section's experiments: bad input through the CLI is one line and exit 2."""

import pytest

from mllab.cli import main


@pytest.mark.parametrize("args", [
    ["run", "attention-context", "--profile", "smoke", "--set", "window=-1"],
    ["run", "positional-encoding", "--profile", "smoke", "--set", "width=3"],  # 2 heads do not divide 3
    ["run", "truncated-attention", "--profile", "smoke", "--set", "lengths=1,2"],
])
def test_bad_input_exits_2_with_one_line(args, tmp_path, capsys):
    code = main([*args, "--out", str(tmp_path / "rec")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert not (tmp_path / "rec").exists()
