"""The rl experiments' configs: judged seeds never are tuning seeds, every numeric field has a rule, and
bad values (an unknown DQN loss) are BadInput."""

import dataclasses
import typing

import pytest

from mllab.core.config import PROFILES, make_config
from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.experiments.rl import judged_seeds
from mllab.experiments.rl.dqn import DqnExperimentConfig
from mllab.experiments.rl.mc_vs_td import McVsTdConfig
from mllab.experiments.rl.q_table import QTableConfig

CONFIGS = [QTableConfig, McVsTdConfig, DqnExperimentConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("profile", PROFILES)
def test_judged_seeds_and_tuning_seeds_are_disjoint(cls, profile):
    config = make_config(cls, profile)
    count = getattr(config, "seeds", 4)
    for seed in range(10):
        judged = judged_seeds(seed, count, config.tuning_seeds)
        assert len(set(judged)) == count and not set(judged) & set(config.tuning_seeds)
        assert judged == [derive_seed(seed, "judge", i) for i in range(count)]  # common.md: derived, keyed "judge"


def test_judged_seeds_differ_between_run_seeds_and_extend_as_count_grows():
    assert not set(judged_seeds(0, 20, ())) & set(judged_seeds(1, 20, ()))
    assert judged_seeds(3, 5, ())[:2] == judged_seeds(3, 2, ())  # a smoke run judges the quick run's first seeds


def test_a_judged_seed_that_is_a_tuning_seed_is_bad_input():
    clash = derive_seed(0, "judge", 1)
    with pytest.raises(BadInput, match="tuning seeds"):
        judged_seeds(0, 3, tuning_seeds=(0, 1, clash))


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_numeric_field_has_an_explicit_rule(cls):
    hints = typing.get_type_hints(cls)
    numeric = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        inner = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else kind
        if inner in (int, float):
            numeric.append(f.name)
    assert numeric and [name for name in numeric if name not in cls.rules] == []


def test_an_unknown_dqn_loss_is_bad_input():
    with pytest.raises(BadInput, match="loss"):
        make_config(DqnExperimentConfig, "smoke", ["loss=hinge"])  # from the command line
    config = DqnExperimentConfig(loss="hinge")  # built in code: the rule catches it
    with pytest.raises(BadInput, match="loss"):
        config.validate()


@pytest.mark.parametrize("overrides", [["tolerance=1.5"], ["gamma=1"], ["steps=1,2"], ["alpha=0"]])
def test_q_table_bad_values_are_bad_input(overrides):
    with pytest.raises(BadInput):
        make_config(QTableConfig, "smoke", overrides)


@pytest.mark.parametrize("overrides", [["early_episodes=20", "episodes=10"], ["td_alphas=1.5"], ["challenger=sarsa"]])
def test_mc_vs_td_bad_values_are_bad_input(overrides):
    with pytest.raises(BadInput):
        make_config(McVsTdConfig, "smoke", overrides)


def test_double_dqn_is_a_command_line_switch():
    assert make_config(DqnExperimentConfig, "smoke", ["double_dqn=false"]).double_dqn is False
    assert make_config(DqnExperimentConfig, "smoke", ["double_dqn=true"]).double_dqn is True
    with pytest.raises(BadInput, match="double_dqn"):
        make_config(DqnExperimentConfig, "smoke", ["double_dqn=maybe"])


@pytest.mark.parametrize("overrides", [["stop_return=400"], ["num_envs=0"], ["tau=0"], ["tau=1.5"]])
def test_dqn_bad_values_are_bad_input(overrides):
    with pytest.raises(BadInput, match=overrides[0].split("=")[0]):
        make_config(DqnExperimentConfig, "quick", overrides)
