"""The experiment registry: `@experiment(name, section, claim)` registers a claim to check."""

from __future__ import annotations

import difflib
import inspect
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
class Experiment:
    name: str
    section: str
    claim: str
    func: Callable
    config_cls: type[Config]

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    @property
    def source_file(self) -> Path:
        return Path(inspect.getsourcefile(self.func) or "")


REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, *, section: str, claim: str) -> Callable[[Callable], Callable]:
    """Register `func(run, cfg: SomeConfig)` as the experiment `name` checking `claim`."""
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
        REGISTRY[name] = Experiment(name, section, claim, func, config_cls)
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
    order = {s: i for i, s in enumerate(SECTIONS)}
    chosen = [e for e in REGISTRY.values() if section is None or e.section == section]
    return sorted(chosen, key=lambda e: order[e.section])
