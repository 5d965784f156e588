"""domain-adaptation: bad input through the CLI (one line, exit 2, nothing left); the claim's pieces."""

import pytest

from mllab.cli import main
from mllab.core.registry import REGISTRY
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("setting, fragment", [
    ("adaptation_weight=-0.5", "adaptation_weight: must be >= 0"),
    ("n_train=5000", "n_train"),
    ("epochs=0", "epochs"),
])
def test_bad_input_is_one_line_and_exit_2(setting, fragment, tmp_path, capsys):
    out = tmp_path / "record"
    code = main(["run", "domain-adaptation", "--profile", "smoke", "--set", setting, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1 and not out.exists()


def test_claim_names_its_thresholds_and_the_control_turns_adaptation_off():
    e = REGISTRY["domain-adaptation"]
    assert {"margin", "gap_fraction", "max_domain_accuracy"} <= set(e.threshold_fields)
    assert e.negative_control.overrides == ("adaptation_weight=0",)
