"""What the report shows of one experiment: its registry entry joined with its latest run record.

`collect(runs_dir)` returns one `Entry` per registered experiment, in the notes' section order;
an experiment without a record is an entry with verdict "not run".
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mllab
from mllab.core.config import config_dict, field_help, make_config
from mllab.core.records import latest_record
from mllab.core.registry import Experiment, all_experiments
from mllab.core.run import code_version

VERDICTS = ("holds", "fails", "error", "not run")
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

    @property
    def doc_blocks(self) -> list[tuple[str, str]]:
        """The docstring as ("p" | "lines" | "pre", text) blocks; see `doc_blocks`."""
        return doc_blocks(self.doc)

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


def doc_blocks(doc: str) -> list[tuple[str, str]]:
    """Split a docstring at blank lines: prose paragraphs are re-flowed ("p"), lists keep their line
    breaks ("lines"), indented blocks (code, formulas) keep their layout ("pre")."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", doc.strip()):
        lines = paragraph.splitlines()
        if not lines:
            continue
        if any(line.startswith((" ", "\t")) for line in lines):
            blocks.append(("pre", textwrap.dedent(paragraph)))
        elif any(re.match(r"([-*•]|\d+[.)])\s", line) for line in lines):
            blocks.append(("lines", paragraph))
        else:
            blocks.append(("p", " ".join(line.strip() for line in lines)))
    return blocks


def source_path(path: Path) -> str:
    """The source file as `src/mllab/...` inside a checkout, `mllab/...` when installed, else absolute."""
    root = Path(mllab.__file__).resolve().parents[1]
    try:
        relative = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return ("src/" if root.name == "src" else "") + relative


def format_value(value: Any, limit: int = 160) -> str:
    """A number or small structure as short text: floats to 4 significant digits, long lists cut."""
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(_round(value), separators=(", ", ": "))
    if len(text) > limit:
        size = f" ({len(value)} items)" if isinstance(value, (list, dict)) else ""
        text = text[: limit - 1] + "…" + size
    return text


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


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


def make_entry(experiment: Experiment, runs_dir: Path) -> Entry:
    """Join the registry's experiment with its latest record under runs_dir (if any)."""
    entry = Entry(name=experiment.name, slug=slugify(experiment.name), section=experiment.section,
                  claim=experiment.claim, doc=experiment.doc, source=source_path(experiment.source_file))
    found = latest_record(runs_dir, experiment.name)
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
    return [make_entry(e, Path(runs_dir)) for e in all_experiments()]


def counts(entries: list[Entry]) -> dict[str, int]:
    return {v: sum(e.verdict == v for e in entries) for v in VERDICTS}


