"""catastrophic-forgetting and lifelong-strategies: bad input through the CLI (one line, exit 2, nothing left)."""

import pytest

from mllab.cli import main
from mllab.core.registry import REGISTRY
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("name, setting, fragment", [
    ("catastrophic-forgetting", "tasks=11", "without digits"),
    ("catastrophic-forgetting", "tasks=0", "tasks: must be >= 1"),
    ("catastrophic-forgetting", "split_scenario=open-world", "unknown scenario"),
    ("lifelong-strategies", "memory_size=-1", "memory_size: must be >= 0"),
    ("lifelong-strategies", "ewc_strength=-1", "ewc_strength: must be >= 0"),
    ("lifelong-strategies", "si_strength=-0.1", "si_strength: must be >= 0"),
])
def test_bad_input_is_one_line_and_exit_2(name, setting, fragment, tmp_path, capsys):
    out = tmp_path / "record"
    code = main(["run", name, "--profile", "smoke", "--set", setting, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1 and not out.exists()


def test_negative_controls_switch_the_remedies_off():
    assert REGISTRY["catastrophic-forgetting"].negative_control.overrides == ("tasks=1",)
    assert set(REGISTRY["lifelong-strategies"].negative_control.overrides) == {
        "ewc_strength=0", "si_strength=0", "memory_size=0"}
