"""mllab from Python or a notebook: run a claim, list and describe experiments, see a result inline.

    import mllab
    result = mllab.run("batch-size", profile="quick", seed=0, lrs=(0.1, 0.3))
    result                      # in Jupyter: claim, verdict badge, checks table, figures inline
    result.verdict, result.checks, result.metrics, result.figures, result.path, result.config, result.result
    mllab.list("optimization")  # name, section, claim of each experiment (all sections without an argument)
    mllab.describe("batch-size")  # claim, docstring, config fields with their defaults and help, profiles
    mllab.load(path)            # a Result from an existing record folder

`run`'s keyword arguments other than its own (profile, seed, out, device, data_dir, progress, echo) are
config fields, validated by the same code as the CLI's `--set` (`core.config.make_config`): each value is
written as its `--set` text (`lrs=(0.1, 0.3)` -> `lrs=0.1,0.3`), and a typed value must read back as
itself, so the record's `command` reproduces the run from a shell. A string is taken as `--set` text.
The record goes where `mllab run` puts it: mllab-out/runs/NAME/<timestamp> under the current folder,
or `out=`. Progress bars are `tqdm.auto` (widgets in Jupyter when ipywidgets is installed, else text).

Layering: this module sits beside cli.py (it may import experiments and report); nothing imports it
but `mllab/__init__.py`, which loads it on first use of `mllab.run` / `list` / `describe` / `load`.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import html
import math
import numbers
import os
from pathlib import Path
from typing import Any, NamedTuple

from mllab.core.config import config_dict, field_help, make_config
from mllab.core.errors import BadInput
from mllab.core.records import read_result
from mllab.core.registry import Experiment, all_experiments, get_experiment
from mllab.core.run import default_out_dir, execute
from mllab.report.entries import check_view, doc_html
from mllab.report.format import comparison_text, format_value, tidy_numbers

__all__ = ["Description", "Listing", "Result", "describe", "list_experiments", "load", "run"]

OUT = Path("mllab-out")  # the CLI's default folder: records go to OUT/runs/NAME/<timestamp>
# Badge colours of the report (report/static/style.css): (background, text, border).
BADGES = {"holds": ("#1a7f37", "#ffffff", "#1a7f37"), "fails": ("#c4432b", "#ffffff", "#c4432b"),
          "error": ("#8250df", "#ffffff", "#8250df"), "not judged": ("transparent", "#9a6700", "#9a6700"),
          "not run": ("#6e7781", "#ffffff", "#6e7781"), "modified": ("transparent", "#bc4c00", "#bc4c00")}
MARKS = {True: '<span style="color:#1a7f37;font-weight:700" title="passed">✓</span>',
         False: '<span style="color:#c4432b;font-weight:700" title="failed">✗</span>'}
TABLE = 'style="border-collapse:collapse;font-size:0.9em;margin:0.3em 0"'
CELL = "padding:0.15em 0.6em;border-bottom:1px solid #d1d9e0;text-align:left;vertical-align:top"


def _load() -> None:
    from mllab.experiments import load_all

    load_all()  # registers every experiment (a no-op after the first call)


# ---- config fields as keyword arguments -----------------------------------------------------------

def _set_text(value: Any) -> str:
    """A Python value as `--set` would spell it: tuples comma-joined, None as `none`."""
    if value is None:
        return "none"
    if isinstance(value, (tuple, builtins.list)):
        return ",".join(_set_text(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)  # a float prints its shortest form that reads back as the same float


def _same(parsed: Any, given: Any) -> bool:
    """Does the config value parsed from `_set_text(given)` equal what the caller gave?"""
    if isinstance(parsed, (tuple, builtins.list)):
        items = given if isinstance(given, (tuple, builtins.list)) else (given,)  # lrs=0.1 -> (0.1,)
        return len(parsed) == len(items) and all(_same(p, g) for p, g in zip(parsed, items))
    if isinstance(given, os.PathLike):
        given = os.fspath(given)
    if isinstance(given, numbers.Real) and not isinstance(given, bool) and isinstance(parsed, (int, float)) \
            and not isinstance(parsed, bool):
        return math.isclose(parsed, float(given), rel_tol=1e-6)  # a float32 0.1 is the float 0.1
    return parsed == given


def config_overrides(experiment: Experiment, fields: dict[str, Any], profile: str = "quick",
                     has_data_dir: bool = False) -> builtins.list[str]:
    """`field=value` overrides (the `--set` texts) of keyword arguments, checked by `make_config` (unknown
    field, wrong type, rule: BadInput naming the field); a typed value that does not read back as itself
    (a string with a comma inside a tuple) is BadInput too. Strings pass as `--set` text unchanged."""
    overrides = [f"{name}={value if isinstance(value, str) else _set_text(value)}" for name, value in fields.items()]
    config = make_config(experiment.config_cls, profile, overrides, has_data_dir=has_data_dir)
    for name, value in fields.items():
        if not isinstance(value, str) and not _same(getattr(config, name), value):
            raise BadInput(f"{name}={value!r}: reads back as {getattr(config, name)!r} through `--set "
                           f"{name}={_set_text(value)}`; pass the `--set` text as a string instead")
    return overrides


# ---- HTML pieces -----------------------------------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text))


def badge(verdict: str, title: str = "", label: str | None = None) -> str:
    """The verdict as the report's coloured pill (inline styles: a notebook has no stylesheet)."""
    background, color, border = BADGES.get(verdict, BADGES["error"])
    style = (f"display:inline-block;font-size:0.75em;font-weight:700;text-transform:uppercase;border-radius:999px;"
             f"padding:0.05em 0.6em;background:{background};color:{color};border:1px solid {border}")
    tip = f' title="{_e(title)}"' if title else ""
    return f'<span style="{style}"{tip}>{_e(verdict if label is None else label)}</span>'


def _table(header: builtins.list[str], rows: builtins.list[str]) -> str:
    head = "".join(f'<th style="{CELL}">{h}</th>' for h in header)
    return f"<table {TABLE}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: builtins.list[str]) -> str:
    return "<tr>" + "".join(c if c.startswith("<td") else f'<td style="{CELL}">{c}</td>' for c in cells) + "</tr>"


def checks_html(checks: builtins.list[dict[str, Any]]) -> str:
    """The checks as one table: a comparison (`run.compare`) shows both arms' mean ± SE, the difference ± SE,
    its lower 95 % bound, the margin and n; any other check what it observed and expected."""
    rows = []
    for kind, title in (("claim", "claim checks"), ("sanity", "sanity checks")):
        views = [check_view(c) for c in checks if c.get("kind", "claim") == kind]
        if views:
            rows.append(f'<tr><td colspan="8" style="{CELL};font-weight:600;background:#f6f8fa">{title}</td></tr>')
        for c in views:
            k = c["comparison"]
            if k:
                scale = " (log-ratio)" if k["scale"] == "log-ratio" else ""
                rows.append(_row([MARKS[c["passed"]], _e(c["name"]), f"{_e(k['a_label'])}: {_e(k['a'])}",
                                  f"{_e(k['b_label'])}: {_e(k['b'])}", f"{_e(k['difference'])}{scale}",
                                  _e(k["lower_bound"]), _e(k["margin"]), f"{_e(k['n'])} {_e(k['paired'])}"]))
            else:
                expected = f"<br><small>expected: {_e(c['expected'])}</small>" if c["expected"] else ""
                rows.append(_row([MARKS[c["passed"]], _e(c["name"]),
                                  f'<td colspan="6" style="{CELL}">{_e(c["observed"])}{expected}</td>']))
    if not rows:
        return "<p><em>no checks recorded</em></p>"
    return _table(["", "check", "arm a (mean ± SE)", "arm b (mean ± SE)", "difference ± SE", "lower 95% bound",
                   "margin", "seeds"], rows)


def figure_html(path: Path) -> str:
    """A PNG inline as a base64 data URI, captioned with its file name."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure style="display:inline-block;margin:0.4em 0.8em 0.4em 0;vertical-align:top">'
            f'<img src="data:image/png;base64,{data}" alt="{_e(path.name)}" style="max-width:100%">'
            f'<figcaption style="font-size:0.8em;color:#59636e">{_e(path.name)}</figcaption></figure>')


# ---- results -----------------------------------------------------------------------------------------

class Result:
    """One run record: `.verdict`, `.checks`, `.metrics`, `.figures` (PNG paths), `.path` (the record
    folder), `.config`, `.result` (result.json as a dict). Jupyter shows it as HTML (`_repr_html_`)."""

    def __init__(self, path: Path, result: dict[str, Any]) -> None:
        self.path = Path(path)
        self.result = result

    name = property(lambda self: self.result["experiment"])
    verdict = property(lambda self: self.result["verdict"], doc="holds | fails | error | not judged")
    claim = property(lambda self: self.result.get("claim", ""))
    checks = property(lambda self: self.result.get("checks") or [], doc="result.json's checks (dicts)")
    metrics = property(lambda self: self.result.get("metrics") or {})
    config = property(lambda self: self.result.get("config") or {})
    seconds = property(lambda self: self.result.get("seconds"))
    error = property(lambda self: self.result.get("error"), doc="{type, message, traceback} or None")
    modified_claim = property(lambda self: self.result.get("modified_claim") or [])

    @property
    def figures(self) -> builtins.list[Path]:
        """Paths of the record's figures, in result.json's order."""
        names = self.result.get("figures") or sorted(p.name for p in (self.path / "figures").glob("*.png"))
        return [self.path / "figures" / n for n in names if (self.path / "figures" / n).is_file()]

    def _verdict_note(self) -> str:
        if self.verdict == "not judged":
            return f"{self.result.get('profile', 'smoke')} run: exercises the code, does not judge the claim"
        return ""

    def __repr__(self) -> str:
        return f"<mllab.Result {self.name}: {self.verdict} ({self.seconds or 0:.1f}s) at {self.path}>"

    def __str__(self) -> str:
        """The CLI's summary: verdict, claim, checks (comparisons as both arms' mean ± SE), record."""
        note = self._verdict_note()
        lines = [f"{self.name}: {self.verdict.upper()}{f' ({note})' if note else ''} ({self.seconds or 0:.1f}s)",
                 f"  claim: {tidy_numbers(self.claim)}"]
        if self.modified_claim:
            lines.append(f"  MODIFIED CLAIM: {', '.join(self.modified_claim)} changed")
        for c in self.checks:
            observed = comparison_text(c["comparison"]) if c.get("comparison") else format_value(str(c["observed"]))
            lines.append(f"  [{'x' if c['passed'] else ' '}] {c.get('kind', 'claim')}: {c['name']}: {observed}")
        if self.error:
            lines.append(f"  error: {self.error['type']}: {self.error['message']}")
        lines.append(f"  record: {self.path}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        r = self.result
        parts = [f'<div class="mllab-result"><h3 style="margin:0.2em 0">{_e(self.name)} {badge(self.verdict)}'
                 + (" " + badge("modified", "the run changed the claim's thresholds: " + ", ".join(self.modified_claim),
                                "modified claim") if self.modified_claim else "") + "</h3>",
                 f'<p style="margin:0.2em 0"><b>claim:</b> {_e(tidy_numbers(self.claim))}</p>',
                 f'<p style="margin:0.2em 0;color:#59636e;font-size:0.85em">{_e(r.get("section", ""))} · '
                 f'profile {_e(r.get("profile", ""))} · seed {_e(r.get("seed", ""))} · {self.seconds or 0:.1f} s'
                 + (f" · {_e(self._verdict_note())}" if self._verdict_note() else "") + "</p>"]
        if self.error:
            parts.append(f'<p style="color:#8250df"><b>error:</b> {_e(self.error["type"])}: '
                         f'{_e(self.error["message"])} (traceback in result.json)</p>')
        parts.append(checks_html(self.checks))
        for problem in r.get("figure_problems") or []:
            parts.append(f'<p style="color:#bc4c00;font-size:0.85em">figure problem: {_e(problem)}</p>')
        parts.extend(figure_html(p) for p in self.figures)
        parts.append(f'<p style="color:#59636e;font-size:0.85em">record: <code>{_e(self.path)}</code>'
                     + (f" · reproduce: <code>{_e(r['command'])}</code>" if r.get("command") else "") + "</p></div>")
        return "\n".join(parts)


def run(name: str, *, profile: str = "quick", seed: int = 0, out: str | os.PathLike | None = None,
        device: str = "auto", data_dir: str | os.PathLike | None = None, progress: bool = True, echo: bool = False,
        **fields: Any) -> Result:
    """Run experiment `name` and write its record, like `mllab run`; returns its `Result`.

    profile: smoke | quick | full; seed: the run's seed; out: the record folder (default
    mllab-out/runs/NAME/<timestamp> under the current folder); device: auto | cpu | cuda[:N] | mps;
    data_dir: your MNIST / CIFAR-10 folder; progress: draw the experiment's progress bars (tqdm.auto);
    echo: print the run's log lines to stderr; **fields: config fields (`mllab.describe(name)` lists them),
    Python values or `--set` text. Bad input raises BadInput before anything is written; an exception
    inside the experiment is the verdict "error" (the record keeps its traceback)."""
    _load()
    experiment = get_experiment(name)
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    overrides = config_overrides(experiment, fields, profile, has_data_dir=data_dir is not None)
    out = Path(out) if out is not None else default_out_dir(experiment.name, OUT / "runs")
    result, path = execute(experiment, profile=profile, seed=seed, overrides=overrides, out=out, device=device,
                           data_dir=data_dir, echo=echo, progress_position=0 if progress else None)
    return Result(path, read_result(path) or result)  # as on disk, so run(...).result == load(path).result


def load(path: str | os.PathLike) -> Result:
    """The `Result` of an existing record folder (one holding result.json)."""
    result = read_result(Path(path))
    if result is None:
        raise BadInput(f"{path}: no run record (result.json) there; give a folder that `mllab run` wrote")
    return Result(Path(path), result)


# ---- listing and describing --------------------------------------------------------------------------

class Listed(NamedTuple):
    name: str
    section: str
    claim: str  # with the quick profile's thresholds


class Listing(builtins.list):
    """`mllab.list()`: a list of (name, section, claim), shown as a table grouped by section."""

    def __repr__(self) -> str:
        width = max((len(e.name) for e in self), default=4)
        return "\n".join(f"{e.name:<{width}}  {e.section:<14}  {e.claim}" for e in self)

    def _repr_html_(self) -> str:
        rows, section = [], None
        for e in self:
            if e.section != section:
                section = e.section
                rows.append(f'<tr><td colspan="2" style="{CELL};font-weight:600;background:#f6f8fa">{_e(section)}'
                            "</td></tr>")
            rows.append(_row([f'<td style="{CELL};white-space:nowrap"><code>{_e(e.name)}</code></td>', _e(e.claim)]))
        return _table(["experiment", "claim"], rows)


def list_experiments(section: str | None = None) -> Listing:
    """Every registered experiment (or one section's) in the notes' order: name, section, claim."""
    _load()
    return Listing(Listed(e.name, e.section, e.claim_text()) for e in all_experiments(section))


@dataclasses.dataclass
class Description:
    """`mllab.describe(name)`: the claim, the docstring, the config fields (name, quick default, help),
    the profiles' overrides and the negative control; shown as HTML in Jupyter."""

    name: str
    section: str
    claim: str
    doc: str
    fields: builtins.list[tuple[str, Any, str]]
    profiles: dict[str, dict[str, Any]]
    negative_control: str = ""

    def __repr__(self) -> str:
        lines = [f"{self.name} ({self.section})", f"claim: {self.claim}", ""]
        if self.doc:
            lines += [self.doc, ""]
        lines.append("config fields (keyword arguments of mllab.run); defaults are the quick profile:")
        lines += [f"  {name} = {default!r}\n      {text}" for name, default, text in self.fields]
        lines += [f"profile {p}: " + ", ".join(f"{k}={v!r}" for k, v in values.items())
                  for p, values in self.profiles.items()]
        if self.negative_control:
            lines.append(f"negative control: {self.negative_control}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        fields = _table(["field", "quick default", "meaning"],
                        [_row([f"<code>{_e(n)}</code>", f"<code>{_e(format_value(d))}</code>", _e(t)])
                         for n, d, t in self.fields])
        profiles = _table(["profile", "overrides"],
                          [_row([_e(p), _e(", ".join(f"{k}={v!r}" for k, v in values.items()))])
                           for p, values in self.profiles.items()])
        control = f"<p><b>negative control:</b> {_e(self.negative_control)}</p>" if self.negative_control else ""
        return (f'<div class="mllab-describe"><h3 style="margin:0.2em 0">{_e(self.name)} '
                f'<small style="color:#59636e">({_e(self.section)})</small></h3>'
                f"<p><b>claim:</b> {_e(self.claim)}</p>{doc_html(self.doc)}"
                f"<p><b>config fields</b> (keyword arguments of <code>mllab.run</code>):</p>{fields}"
                f"<p><b>profiles</b> (overrides of the quick defaults):</p>{profiles}{control}</div>")


def describe(name: str) -> Description:
    """Experiment `name`'s claim, docstring, config fields and profiles (what `mllab describe` prints)."""
    _load()
    e = get_experiment(name)
    docs = field_help(e.config_cls)
    defaults = config_dict(make_config(e.config_cls))
    control = e.negative_control
    return Description(
        e.name, e.section, e.claim_text(), e.doc,
        [(f.name, defaults[f.name], docs.get(f.name, "")) for f in dataclasses.fields(e.config_cls)],
        dict(e.config_cls.profiles),
        f"{', '.join(control.overrides)} → {', '.join(control.fails)} fail(s): {control.why}" if control else "")
