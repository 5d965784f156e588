"""What the report shows of one experiment: its registry entry joined with its latest run record.

`collect(runs_dir)` returns one `Entry` per registered experiment, in the notes' section order; records
are found at any depth under runs_dir (`core.records`), and an experiment without one is an entry with
verdict "not run". An experiment whose newest result.json does not parse is a "corrupt record" (its path
and the parse error), not "not run"; `skipped_lines` says which record files were skipped and why.
Numbers are shown to significant digits (`report.format`), docstrings as Markdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markdown_it import MarkdownIt

import mllab
from mllab.core.config import config_dict, field_help, make_config
from mllab.core.records import SkippedRecord, latest_corrupt, scan_records
from mllab.core.registry import Experiment, all_experiments
from mllab.core.run import code_version, reproduce_command
from mllab.report.format import comparison_text, format_value, margin_text, mean_se, sig, tidy_numbers

__all__ = ["Entry", "collect", "counts", "doc_html", "format_value", "make_entry", "skipped_lines", "slugify"]

CORRUPT = "corrupt record"  # the newest result.json of the experiment does not parse
VERDICTS = ("holds", "fails", "error", "not judged", "not run", CORRUPT)
SKIPPED_SHOWN = 10  # skipped record files named one by one; the rest are counted
KEY_METRICS = 3  # scalar metrics shown on the index beside the checks
LOG_LINES = 200  # lines of log.txt shown on an experiment's page


@dataclass
class Entry:
    """One experiment as the templates see it; paths are relative to the experiment's page."""

    name: str
    slug: str
    section: str
    claim: str
    doc: str
    source: str
    verdict: str = "not run"
    record: Path | None = None
    result: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)  # file names inside exp/<slug>/
    missing_figures: list[str] = field(default_factory=list)
    config: list[tuple[str, str, str]] = field(default_factory=list)  # (field, value, help)
    config_is_default: bool = False
    metrics: list[tuple[str, str]] = field(default_factory=list)
    key_metrics: list[tuple[str, str]] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)
    outdated: bool = False  # the record was made by other code than the current source file
    log_tail: str = ""
    command: str = ""  # the `mllab run ...` that makes this record again (or a first one)
    modified_claim: list[str] = field(default_factory=list)  # threshold fields the run changed
    claim_checks: list[dict[str, Any]] = field(default_factory=list)  # see `check_view`
    sanity_checks: list[dict[str, Any]] = field(default_factory=list)
    corrupt: str = ""  # "<path>: corrupt (<parse error>)" when the newest record does not parse

    @property
    def doc_html(self) -> str:
        """The docstring rendered as Markdown (raw HTML in it is escaped)."""
        return doc_html(self.doc)

    @property
    def badge(self) -> str:
        """CSS class of the verdict badge."""
        return self.verdict.replace(" ", "")

    @property
    def page(self) -> str:
        """The experiment page's URL relative to the report root."""
        return f"exp/{quote(self.slug)}.html"

    def figure_url(self, name: str, from_root: bool = False) -> str:
        return ("exp/" if from_root else "") + f"{quote(self.slug)}/{quote(name)}"


def slugify(name: str) -> str:
    """A file-name-safe form of an experiment name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "experiment"


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def doc_html(doc: str) -> str:
    """A docstring as HTML: CommonMark (backticks are code, `-` lines a list, indented blocks keep their
    layout as code), tables allowed, raw HTML escaped."""
    return _markdown().render(doc.strip()) if doc.strip() else ""


def source_path(path: Path) -> str:
    """The source file as `src/mllab/...` inside a checkout, `mllab/...` when installed, else absolute."""
    root = Path(mllab.__file__).resolve().parents[1]
    try:
        relative = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return ("src/" if root.name == "src" else "") + relative


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _config_rows(experiment: Experiment, config: dict[str, Any]) -> list[tuple[str, str, str]]:
    docs = field_help(experiment.config_cls)
    return [(name, format_value(value, limit=400), docs.get(name, "")) for name, value in config.items()]


def _record_figures(record: Path, result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(figures present in the record, figures result.json names that are missing)."""
    names = result.get("figures") or sorted(p.name for p in (record / "figures").glob("*.png"))
    present = [n for n in names if (record / "figures" / n).is_file()]
    return present, [n for n in names if n not in present]


def _log_tail(record: Path) -> str:
    try:
        lines = (record / "log.txt").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    cut = len(lines) - LOG_LINES
    return ("… " + str(cut) + " earlier lines in log.txt\n" if cut > 0 else "") + "\n".join(lines[-LOG_LINES:])


def comparison_view(c: dict[str, Any]) -> dict[str, str]:
    """A `run.compare` record as the page's cells: each arm's mean ± SE, the difference, bound, margin."""
    a, b = c["a"], c["b"]
    bound = c.get("lower_bound")
    return {"a_label": str(a["label"]), "a": mean_se(a["mean"], a["se"]), "b_label": str(b["label"]),
            "b": mean_se(b["mean"], b["se"]), "n": str(c.get("n", "")),
            "paired": "paired" if c.get("paired") else "unpaired",
            "scale": "log-ratio" if c.get("log") else "difference",
            "difference": mean_se(c.get("difference"), c.get("se")),
            "lower_bound": sig(bound) if isinstance(bound, (int, float)) else "—", "margin": margin_text(c),
            "better": str(c.get("better", "higher")), "text": comparison_text(c)}


def check_view(check: dict[str, Any]) -> dict[str, Any]:
    """A check of result.json as the templates show it: numbers to significant digits."""
    comparison = check.get("comparison")
    return {"name": str(check.get("name", "")), "passed": bool(check.get("passed")),
            "kind": check.get("kind", "claim"),
            "observed": comparison_text(comparison) if comparison else tidy_numbers(str(check.get("observed", ""))),
            "expected": tidy_numbers(str(check.get("expected") or "")),
            "comparison": comparison_view(comparison) if comparison else None}


def make_entry(experiment: Experiment, found: tuple[Path, dict[str, Any]] | None,
               corrupt: SkippedRecord | None = None) -> Entry:
    """Join the registry's experiment with its latest record `found` ((folder, result), or None), or with
    its newest record when that is `corrupt` (newer than `found`)."""
    entry = Entry(name=experiment.name, slug=slugify(experiment.name), section=experiment.section,
                  claim=experiment.claim, doc=experiment.doc, source=source_path(experiment.source_file),
                  command=f"mllab run {experiment.name}")
    try:
        entry.claim = experiment.claim_text()
    except Exception:  # a config that cannot be built: the template is better than a broken report
        pass
    if corrupt is not None:
        entry.verdict, entry.record, entry.corrupt = CORRUPT, corrupt.folder, corrupt.line()
        entry.log_tail = _log_tail(corrupt.folder)
        return entry
    if found is None:
        try:
            entry.config = _config_rows(experiment, config_dict(make_config(experiment.config_cls)))
            entry.config_is_default = True
        except Exception:  # a config that cannot be built is shown as absent, not a broken report
            entry.config = []
        return entry
    record, result = found
    entry.record, entry.result = record, result
    entry.verdict = result.get("verdict") if result.get("verdict") in VERDICTS else "error"
    entry.claim = tidy_numbers(str(result.get("claim") or entry.claim))
    entry.modified_claim = [str(f) for f in result.get("modified_claim") or []]
    entry.command = result.get("command") or reproduce_command(experiment, result.get("profile", "quick"),
                                                               result.get("seed", 0), ())
    checks = [check_view(c) for c in result.get("checks") or []]
    entry.claim_checks = [c for c in checks if c["kind"] != "sanity"]
    entry.sanity_checks = [c for c in checks if c["kind"] == "sanity"]
    entry.figures, entry.missing_figures = _record_figures(record, result)
    entry.config = _config_rows(experiment, result.get("config") or {})
    metrics = result.get("metrics") or {}
    entry.metrics = [(k, format_value(v)) for k, v in metrics.items()]
    entry.key_metrics = [(k, format_value(v)) for k, v in metrics.items() if _is_scalar(v)][:KEY_METRICS]
    entry.versions = [(k, str(v)) for k, v in (result.get("versions") or {}).items() if v != ""]
    entry.outdated = result.get("code_version") not in (None, code_version(experiment))
    entry.log_tail = _log_tail(record)
    return entry


def collect(runs_dir: Path) -> list[Entry]:
    """One entry per registered experiment, in the notes' order of sections."""
    records, skipped = scan_records(Path(runs_dir))
    latest = {result["experiment"]: (folder, result) for folder, result in records}
    corrupt = latest_corrupt(records, skipped)
    return [make_entry(e, latest.get(e.name), corrupt.get(e.name)) for e in all_experiments()]


def skipped_lines(runs_dir: Path, scanned: tuple[list, list] | None = None) -> list[str]:
    """What a report of runs_dir leaves out, and why: a summary line, then one line per record file skipped
    (corrupt, unreadable, not a run record, of no registered experiment; up to SKIPPED_SHOWN). Empty when
    nothing is skipped. Older records of an experiment are not skipped: the report shows each one's newest.
    scanned: `scan_records(runs_dir)` when the caller has it already (the folder is not read again)."""
    records, skipped = scanned if scanned is not None else scan_records(Path(runs_dir))
    registered = {e.name for e in all_experiments()}
    unknown = [(folder, r["experiment"]) for folder, r in records if r["experiment"] not in registered]
    problems = [s.line() for s in skipped] + [f"{folder / 'result.json'}: of no registered experiment ({name!r})"
                                               for folder, name in unknown]
    if not problems:
        return []
    reasons = [s.reason for s in skipped] + ["of no registered experiment"] * len(unknown)
    why = ", ".join(f"{reasons.count(r)} {r}" for r in dict.fromkeys(reasons))
    shown = sorted(set(latest_corrupt(records, skipped)) & registered)
    lines = [f"skipped {len(problems)} of {len(records) + len(skipped)} record files under {runs_dir}: {why}"
             + (f"; shown as corrupt records: {', '.join(shown)}" if shown else "")]
    lines += [f"  {p}" for p in problems[:SKIPPED_SHOWN]]
    if len(problems) > SKIPPED_SHOWN:
        lines.append(f"  ... and {len(problems) - SKIPPED_SHOWN} more")
    return lines


def counts(entries: list[Entry]) -> dict[str, int]:
    """Entries per verdict ("corrupt record" only when there is one)."""
    found = {v: sum(e.verdict == v for e in entries) for v in VERDICTS}
    return {v: n for v, n in found.items() if n or v != CORRUPT}


