"""Every claim check is shown able to fail: each experiment's negative control (settings under which its
claim cannot hold) is run judged, and the checks it names must fail."""

import pytest

from mllab.core.registry import REGISTRY, all_experiments
from mllab.core.run import execute
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("name", [e.name for e in all_experiments()])
def test_negative_control_fails_the_claim(name, tmp_path):
    experiment = REGISTRY[name]
    control = experiment.negative_control
    assert control is not None, f"{name} has no negative control: declare negative_control= in @experiment"
    assert control.fails and control.why.strip()
    result, _ = execute(experiment, profile=control.profile, overrides=list(control.overrides),
                        out=tmp_path / "rec", device="cpu", judge=True)
    assert result["verdict"] == "fails", (result["verdict"], result.get("error"), result["checks"])
    by_name = {c["name"]: c for c in result["checks"]}
    for check in control.fails:
        assert check in by_name, f"{name}: the control names {check!r}, which the run did not record"
        assert by_name[check]["kind"] == "claim" and not by_name[check]["passed"], by_name[check]
