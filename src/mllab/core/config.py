"""Experiment configs: dataclasses whose field docstrings are the help text.

A config's defaults are the `quick` profile; `profiles = {"smoke": {...}, "full": {...}}` on the
class holds the overrides of the other profiles. `--set field=value` overrides are parsed with the
field's type and validated; any problem is a `BadInput` naming the field and the fix.

Validation is explicit per field: `rules = {"lr": positive, "epochs": at_least(1), "warmup_steps":
at_least(0), "drop": in_range(0, 1)}` on the class (a rule applies to each item of a tuple field); every
float must be finite; `validate()` may add rules that relate fields.

Work: `work_factor(config, profile's config)` is how many times the profile's work a run asks for (the
product of its work fields' ratios: seeds, steps, epochs, grids' lengths ...; `work_fields` names them or
they are inferred), so `mllab run` can ask for --yes before a run far longer than its profile's.

Profiles: `smoke` is tiny and exercises the code (its verdict is "not judged"); `quick` (the defaults)
judges the claim on a laptop CPU in seconds to a minute; `full` is bigger, meant for a GPU.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
import typing
from functools import cache
from typing import Any, Callable, ClassVar, Literal

from mllab.core.errors import BadInput

PROFILES = ("smoke", "quick", "full")

Rule = Callable[[Any], "str | None"]  # the value -> None when valid, else what it must be ("must be > 0")


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be > 0"


def at_least(low: float) -> Rule:
    def rule(value: Any) -> str | None:
        return None if value >= low else f"must be >= {low:g}"
    return rule


def in_range(low: float, high: float, *, closed: bool = True) -> Rule:
    def rule(value: Any) -> str | None:
        ok = low <= value <= high if closed else low < value < high
        return None if ok else f"must be in {'[' if closed else '('}{low:g}, {high:g}{']' if closed else ')'}"
    return rule


def nonempty(value: Any) -> str | None:
    return None if len(value) > 0 else "must list at least one value"


@dataclasses.dataclass
class Config:
    """Base of every experiment config."""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    rules: ClassVar[dict[str, Rule | tuple[Rule, ...]]] = {}  # per-field rules; see the module docstring
    thresholds: ClassVar[tuple[str, ...]] = ()  # claim numbers not named in the claim text
    torch_threads: ClassVar[int] = 1  # intra-op threads while the experiment runs (see core.run.execute)
    real_dataset: ClassVar[str | None] = None  # `dataset` of the full profile when a --data-dir is given
    work_fields: ClassVar[tuple[str, ...] | None] = None  # fields the run time grows with; None: inferred

    def validate(self) -> None:
        """Raise BadInput for values outside their domain: finiteness, then `rules`. Subclasses may
        extend it (calling super()) for rules that relate several fields."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(self.rules) - names
        if unknown:
            raise TypeError(f"{type(self).__name__}.rules names unknown fields {sorted(unknown)}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, (tuple, list)) else (value,)
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    raise BadInput(f"--set {f.name}: {v} is not a finite number; give a finite value")
            rules = self.rules.get(f.name, ())
            for rule in rules if isinstance(rules, tuple) else (rules,):
                if rule is nonempty:
                    problem = nonempty(value)
                    if problem:
                        raise BadInput(f"--set {f.name}: {problem}; e.g. --set {f.name}={_default_text(type(self), f.name)}")
                    continue
                for v in values:
                    problem = rule(v) if v is not None else None
                    if problem:
                        raise BadInput(f"--set {f.name}: {problem}, got {v}; e.g. --set {f.name}="
                                       f"{_default_text(type(self), f.name)}")


@cache
def field_help(cls: type) -> dict[str, str]:
    """Docstrings written under dataclass fields (`x: int = 1` then `\"\"\"help\"\"\"`), by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, following in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def parse_value(name: str, text: str, annotation: Any) -> Any:
    """Parse `text` as a value of type `annotation`; BadInput names the field when it cannot."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    expected = _type_name(annotation)
    try:
        if annotation is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
        if origin is Literal:
            if text in [str(a) for a in args]:
                return next(a for a in args if str(a) == text)
            raise BadInput(f"--set {name}={text}: choose one of {', '.join(map(str, args))}")
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            if text.lower() == "none" and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return parse_value(name, text, inner[0])
        if origin in (tuple, list):
            parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
            item_type = args[0] if args else str
            items = [parse_value(name, p.strip(), item_type) for p in parts]
            return tuple(items) if origin is tuple else items
    except BadInput:
        raise
    except (ValueError, TypeError):
        raise BadInput(f"--set {name}={text}: expected {expected}; e.g. --set {name}={_example(annotation)}") from None
    raise BadInput(f"--set {name}: fields of type {expected} cannot be set from the command line")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _example(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        inner = typing.get_args(annotation)[0] if typing.get_args(annotation) else str
        return f"{_example(inner)},{_example(inner)}"
    return {bool: "true", int: "3", float: "0.01", str: "text"}.get(annotation, "...")


def make_config(cls: type[Config], profile: str = "quick", overrides: list[str] | tuple[str, ...] = (),
                has_data_dir: bool = False) -> Config:
    """Build `cls` for `profile`, apply `field=value` overrides, validate; BadInput on any problem.

    has_data_dir: a --data-dir was given; the `full` profile of a config with a `real_dataset` then trains on
    that dataset (its `dataset` field), unless an override sets `dataset` itself."""
    if profile not in PROFILES:
        raise BadInput(f"--profile: unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = dict(cls.profiles.get(profile, {}))
    if profile == "full" and has_data_dir and cls.real_dataset is not None and "dataset" in fields:
        values["dataset"] = cls.real_dataset
    for item in overrides:
        if "=" not in item:
            name = item.strip() if item.strip() in fields else min(fields, default="field")
            raise BadInput(f"--set {item!r}: write field=value, e.g. --set {name}={_default_text(cls, name)}")
        name, text = item.split("=", 1)
        name = name.strip()
        if name not in fields:
            close = ", ".join(sorted(fields)) or "(none)"
            raise BadInput(f"--set {name}: {cls.__name__} has no field {name!r}; fields are: {close}")
        values[name] = parse_value(name, text, hints[name])
    config = cls(**values)
    config.validate()
    return config


def _default_text(cls: type[Config], name: str) -> str:
    """The quick-profile default of field `name` as --set would spell it ('...' when there is none)."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is None or f.default is dataclasses.MISSING:
        return "..."
    return ",".join(map(str, f.default)) if isinstance(f.default, (tuple, list)) else str(f.default)


def config_dict(config: Config) -> dict[str, Any]:
    """The config as a JSON-ready dict."""
    return dataclasses.asdict(config)


# An int field counts repeats or steps (the run time grows with it) when one of its `_`-separated words is here
WORK_WORDS = frozenset({"seeds", "runs", "restarts", "repeats", "trials", "episodes", "steps", "epochs",
                        "iterations", "updates", "timesteps"})
NOT_WORK_WORDS = frozenset({"warmup", "every", "patience"})  # warmup_steps, eval_every: no more work when larger


@cache
def work_fields(cls: type[Config]) -> tuple[str, ...]:
    """The fields a run's time grows in proportion to: `cls.work_fields` when the config names them, else
    inferred — int fields named by a count of repeats or steps (seeds, tuning_seeds, steps, max_epochs,
    episodes, ...; see WORK_WORDS) and grids (`tuple[X, ...]` / list fields: each value is one more run)."""
    if cls.work_fields is not None:
        unknown = set(cls.work_fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"{cls.__name__}.work_fields names unknown fields {sorted(unknown)}")
        return tuple(cls.work_fields)
    hints, found = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        words = set(f.name.split("_"))
        origin, args = typing.get_origin(hints[f.name]), typing.get_args(hints[f.name])
        if hints[f.name] is int and words & WORK_WORDS and not words & NOT_WORK_WORDS:
            found.append(f.name)
        elif origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
            found.append(f.name)
    return tuple(found)


def work_factor(config: Config, reference: Config) -> tuple[float, dict[str, tuple[int, int]]]:
    """How many times the work of `reference` (the profile's config) `config` asks for, and why:
    (Π over work fields of count / reference count, {field: (reference count, count)} where they differ).
    Ints count as themselves (at least 1: `restarts=0` still runs once), grids by their length."""
    factor, changed = 1.0, {}
    for name in work_fields(type(config)):
        count, base = _count(getattr(config, name)), _count(getattr(reference, name))
        if count is not None and base is not None and count != base:
            factor, changed[name] = factor * count / base, (base, count)
    return factor, changed


def _count(value: Any) -> int | None:
    """How many times a work field repeats the work: an int itself (at least 1: `restarts=0` runs once), a grid
    its length; None for anything else (a None default)."""
    if isinstance(value, (tuple, list)):
        return max(len(value), 1)
    return max(int(value), 1) if isinstance(value, int) and not isinstance(value, bool) else None
