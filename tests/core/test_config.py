"""Configs: field docstrings are the help, `--set` values are parsed by type and validated, profiles apply."""

import dataclasses
import json
from typing import ClassVar, Literal

import pytest

from mllab.core.config import Config, at_least, config_dict, field_help, make_config, parse_value, positive
from mllab.core.errors import BadInput


@dataclasses.dataclass
class ToyConfig(Config):
    lr: float = 0.1
    """learning rate of SGD"""
    epochs: int = 3
    """passes over the training set,
    written over two lines"""
    batch_size: int = 16
    """samples per mini-batch"""
    accum_steps: int = 1
    """micro-batches per optimizer step"""
    use_bias: bool = True
    """add a bias to every layer"""
    widths: tuple[int, ...] = (4, 8)
    """hidden widths"""
    rates: tuple[float, ...] = (0.1, 0.01)
    optimizer: Literal["sgd", "adam"] = "sgd"
    """which optimizer"""
    depth: Literal[1, 2, 4] = 2
    """number of hidden layers"""
    weight_decay: float | None = None
    """optional L2 coefficient"""
    label: str = "toy"
    """a name"""

    profiles: ClassVar[dict] = {"smoke": {"epochs": 1, "widths": (2,)}, "full": {"epochs": 50, "batch_size": 128}}
    rules: ClassVar[dict] = {"lr": positive, "epochs": at_least(1), "batch_size": at_least(1),
                             "accum_steps": at_least(1), "widths": at_least(1)}


@dataclasses.dataclass
class ChildConfig(ToyConfig):
    momentum: float = 0.9
    """heavy-ball momentum β"""

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.momentum < 1:
            raise BadInput(f"--set momentum: must lie in [0, 1), got {self.momentum}")


# --- help -------------------------------------------------------------------------------------------------------

def test_field_docstrings_become_help():
    docs = field_help(ToyConfig)
    assert docs["lr"] == "learning rate of SGD"
    assert docs["epochs"] == "passes over the training set, written over two lines"  # whitespace collapsed
    assert docs["optimizer"] == "which optimizer"
    assert "rates" not in docs  # no docstring, no help
    assert "profiles" not in docs


def test_help_of_a_subclass_includes_the_parents_fields():
    docs = field_help(ChildConfig)
    assert docs["momentum"] == "heavy-ball momentum β" and docs["lr"] == "learning rate of SGD"


# --- parsing ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,text,expected", [
    ("epochs", "5", 5),
    ("lr", "1e-3", 1e-3),
    ("lr", "2", 2.0),
    ("use_bias", "false", False),
    ("use_bias", "True", True),
    ("use_bias", "0", False),
    ("use_bias", "yes", True),
    ("widths", "1,2,3", (1, 2, 3)),
    ("widths", "(16, 32)", (16, 32)),
    ("widths", "7", (7,)),
    ("rates", "0.5,0.25", (0.5, 0.25)),
    ("optimizer", "adam", "adam"),
    ("depth", "4", 4),
    ("weight_decay", "none", None),
    ("weight_decay", "0.01", 0.01),
    ("label", "hello world", "hello world"),
])
def test_set_parses_by_type(field, text, expected):
    config = make_config(ToyConfig, "quick", [f"{field}={text}"])
    value = getattr(config, field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("item,message", [
    ("epochs=three", r"--set epochs=three: expected int; e\.g\. --set epochs=3"),
    ("epochs=2.5", "--set epochs"),
    ("lr=fast", "--set lr=fast: expected float"),
    ("use_bias=maybe", "--set use_bias"),
    ("widths=1,x", "--set widths"),
    ("optimizer=rmsprop", "choose one of sgd, adam"),
    ("depth=3", "choose one of 1, 2, 4"),
    ("weight_decay=lots", "--set weight_decay"),
])
def test_mistyped_values_are_bad_input_naming_the_field(item, message):
    with pytest.raises(BadInput, match=message):
        make_config(ToyConfig, "quick", [item])


def test_unknown_field_is_bad_input_listing_the_fields():
    with pytest.raises(BadInput, match=r"--set learning_rate: ToyConfig has no field.*accum_steps.*lr"):
        make_config(ToyConfig, "quick", ["learning_rate=0.1"])


def test_override_without_equals_sign_is_bad_input():
    with pytest.raises(BadInput, match="field=value"):
        make_config(ToyConfig, "quick", ["lr"])


def test_value_may_contain_equals_signs():
    assert make_config(ToyConfig, "quick", ["label=a=b"]).label == "a=b"


# --- validation -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("item,message", [
    ("lr=-0.1", r"--set lr: must be > 0, got -0.1; e.g. --set lr=0.1"),
    ("lr=0", "--set lr"),
    ("lr=nan", "--set lr: nan is not a finite number"),
    ("lr=inf", "finite"),
    ("accum_steps=0", "--set accum_steps: must be >= 1, got 0"),
    ("batch_size=0", "--set batch_size: must be >= 1"),
    ("batch_size=-4", "--set batch_size"),
    ("epochs=0", "--set epochs"),
    ("rates=0.1,nan", "--set rates"),
    ("widths=4,0", "--set widths: must be >= 1, got 0"),  # a rule applies to each item of a tuple
])
def test_values_outside_their_domain_are_bad_input(item, message):
    with pytest.raises(BadInput, match=message):
        make_config(ToyConfig, "quick", [item])


def test_rules_are_explicit_per_field_not_by_name():
    @dataclasses.dataclass
    class Warmup(Config):
        warmup_steps: int = 10
        """steps of linear warm-up (0: none)"""
        rules: ClassVar[dict] = {"warmup_steps": at_least(0)}

    assert make_config(Warmup, "quick", ["warmup_steps=0"]).warmup_steps == 0  # a name ending in _steps may be 0
    with pytest.raises(BadInput, match="--set warmup_steps: must be >= 0"):
        make_config(Warmup, "quick", ["warmup_steps=-1"])


def test_rule_for_unknown_field_is_a_programming_error():
    @dataclasses.dataclass
    class Typo(Config):
        lr: float = 0.1
        """learning rate"""
        rules: ClassVar[dict] = {"learning_rate": positive}

    with pytest.raises(TypeError, match="learning_rate"):
        make_config(Typo)


def test_subclass_validate_extends_the_base_checks():
    with pytest.raises(BadInput, match="momentum"):
        make_config(ChildConfig, "quick", ["momentum=1.5"])
    with pytest.raises(BadInput, match="--set lr"):
        make_config(ChildConfig, "quick", ["lr=-1"])  # the base checks still run
    assert make_config(ChildConfig, "quick", ["momentum=0.5"]).momentum == 0.5


# --- profiles ---------------------------------------------------------------------------------------------------

def test_profiles_override_the_quick_defaults():
    assert make_config(ToyConfig) == ToyConfig()
    smoke = make_config(ToyConfig, "smoke")
    assert (smoke.epochs, smoke.widths, smoke.lr) == (1, (2,), 0.1)
    full = make_config(ToyConfig, "full")
    assert (full.epochs, full.batch_size) == (50, 128)


def test_set_applies_on_top_of_the_profile():
    config = make_config(ToyConfig, "smoke", ["epochs=4"])
    assert (config.epochs, config.widths) == (4, (2,))


def test_unknown_profile_is_bad_input():
    with pytest.raises(BadInput, match="--profile: unknown profile 'medium'; choose one of smoke, quick, full"):
        make_config(ToyConfig, "medium")


def test_config_dict_is_json_ready():
    config = make_config(ToyConfig, "quick", ["weight_decay=0.5"])
    assert json.loads(json.dumps(config_dict(config)))["weight_decay"] == 0.5
    assert config_dict(config)["widths"] == (4, 8)


def test_parse_value_refuses_types_the_command_line_cannot_express():
    with pytest.raises(BadInput, match="cannot be set from the command line"):
        parse_value("table", "x", dict[str, int])


def test_full_profile_takes_the_real_dataset_when_a_data_dir_is_given():
    import dataclasses
    from typing import ClassVar

    from mllab.core.config import Config, make_config

    @dataclasses.dataclass
    class ImageConfig(Config):
        dataset: str = "mnist5k"
        """which images"""
        real_dataset: ClassVar[str | None] = "mnist"

    assert make_config(ImageConfig, "full").dataset == "mnist5k"  # no folder: the bundled sample
    assert make_config(ImageConfig, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(ImageConfig, "quick", has_data_dir=True).dataset == "mnist5k"  # only the full profile
    assert make_config(ImageConfig, "full", ["dataset=cifar10"], has_data_dir=True).dataset == "cifar10"
