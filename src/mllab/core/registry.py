"""The experiment registry: `@experiment(name, section, claim)` registers a claim to check."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import string
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mllab.core.config import Config
from mllab.core.errors import BadInput

# Report and tour order: the order of the notes.
SECTIONS = (
    "training", "optimization", "classification", "normalization", "cnn", "attention",
    "seq2seq", "generative", "explain", "adaptation", "lifelong", "rl",
)


@dataclass(frozen=True)
class NegativeControl:
    """Settings under which the claim must fail: the test suite runs them (judged) and asserts that the
    named claim checks fail, so every claim check is shown able to fail."""

    overrides: tuple[str, ...]
    fails: tuple[str, ...]  # names of claim checks that must fail
    why: str  # one line: why the claim cannot hold under these settings
    profile: str = "smoke"


@dataclass(frozen=True)
class Experiment:
    name: str
    section: str
    claim: str  # a template: "{margin:.1%}" is filled from the config's field `margin`
    func: Callable
    config_cls: type[Config]
    negative_control: NegativeControl | None = None
    distributed: bool = False  # runs under torchrun: its models train with DDP, each rank on its shard

    @property
    def threshold_fields(self) -> tuple[str, ...]:
        """Config fields that are the claim's numbers: placeholders of the claim text, plus the config's
        `thresholds` class attribute. Changing one changes the claim (`modified claim`)."""
        named = [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(self.claim) if f]
        return tuple(dict.fromkeys(named + list(getattr(self.config_cls, "thresholds", ()))))

    def claim_text(self, config: Config | None = None) -> str:
        """The claim with the config's thresholds filled in (the quick defaults when config is None)."""
        if config is None:
            from mllab.core.config import make_config

            config = make_config(self.config_cls)
        return self.claim.format_map({f: getattr(config, f) for f in self.threshold_fields if hasattr(config, f)})

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    @property
    def source_file(self) -> Path:
        return Path(inspect.getsourcefile(self.func) or "")


REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, *, section: str, claim: str, negative_control: NegativeControl | None = None,
               distributed: bool = False) -> Callable[[Callable], Callable]:
    """Register `func(run, cfg: SomeConfig)` as the experiment `name` checking `claim`.

    `claim` may hold format fields naming config fields (`"by >= {margin:.0%}"`): the claim's numbers
    then come from the config, and a run that changes them is marked `modified claim`.
    `negative_control`: settings under which the claim must fail (see `NegativeControl`).
    `distributed`: the experiment runs under `torchrun --nproc_per_node N -m mllab run NAME`: it trains with
    `run.distribute(model)` on its shard (`run.rank`, `run.world_size`) and sums evaluation counts over ranks
    (`run.all_reduce_sum`), so that every rank holds the global numbers; the others refuse torchrun."""
    if section not in SECTIONS:
        raise ValueError(f"experiment {name!r}: unknown section {section!r}; sections: {SECTIONS}")

    def register(func: Callable) -> Callable:
        params = list(inspect.signature(func).parameters)
        hints = typing.get_type_hints(func)
        config_cls = hints.get(params[1]) if len(params) == 2 else None
        if not (isinstance(config_cls, type) and issubclass(config_cls, Config)):
            raise TypeError(f"experiment {name!r}: signature must be (run: Run, cfg: <Config subclass>)")
        if name in REGISTRY and REGISTRY[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"experiment {name!r} registered twice")
        missing = [f for f in Experiment(name, section, claim, func, config_cls).threshold_fields
                   if f not in {field.name for field in dataclasses.fields(config_cls)}]
        if missing:
            raise TypeError(f"experiment {name!r}: claim names {missing}, which {config_cls.__name__} does not have")
        REGISTRY[name] = Experiment(name, section, claim, func, config_cls, negative_control, distributed)
        return func

    return register


def get_experiment(name: str) -> Experiment:
    """The registered experiment `name`; BadInput with the closest names when unknown."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `mllab list`"
        raise BadInput(f"unknown experiment {name!r}; {hint}")
    return REGISTRY[name]


def all_experiments(section: str | None = None) -> list[Experiment]:
    """Registered experiments in the notes' section order (registration order within a section)."""
    if section is not None and section not in SECTIONS:
        raise BadInput(f"--only: unknown section {section!r}; choose one of {', '.join(SECTIONS)}")
    if section is not None and not any(e.section == section for e in REGISTRY.values()):
        have = ", ".join(s for s in SECTIONS if any(e.section == s for e in REGISTRY.values()))
        raise BadInput(f"--only: section {section!r} has no experiments yet; sections with experiments: {have}")
    order = {s: i for i, s in enumerate(SECTIONS)}
    chosen = [e for e in REGISTRY.values() if section is None or e.section == section]
    return sorted(chosen, key=lambda e: order[e.section])
