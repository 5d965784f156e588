"""`build_report(runs_dir, out_dir)`: render the static site and put it in place in one rename.

Layout of the site (every link relative, nothing fetched from the network, opens from file://):
    index.html             every registered experiment by section: claim, verdict, key numbers, thumbnail
    style.css
    exp/<name>.html        one page per experiment
    exp/<name>/*.png       its figures, copied from the run record
    exp/<name>/result.json, log.txt, metrics.jsonl   the record's files, copied
The site is built in a hidden folder beside out_dir and renamed onto it, so a crash leaves the
previous report (or none), never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import jinja2

import mllab
from mllab.core.errors import BadInput
from mllab.core.records import REPORT_MARKER
from mllab.core.registry import SECTIONS
from mllab.report.entries import Entry, collect, counts, skipped_lines

HERE = Path(__file__).parent
MARKER = REPORT_MARKER  # marks a folder this function wrote, and so may replace (and records skip)
RECORD_FILES = ("result.json", "log.txt", "metrics.jsonl")
MAX_COPIED_BYTES = 4 * 2**20  # record files larger than this stay out of the report


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def check_out_dir(out_dir: Path, runs_dir: Path) -> None:
    """Refuse to replace a folder that is not a report (a typo must not delete someone's files)."""
    if out_dir.resolve() in (runs_dir.resolve(), *runs_dir.resolve().parents):
        raise BadInput(f"--out: {out_dir} would replace the run records in {runs_dir}; choose another folder")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MARKER).exists())):
        raise BadInput(f"--out: {out_dir} exists and is not an mllab report; choose a new or empty folder")


def _copy_record_files(entry: Entry, folder: Path) -> list[str]:
    """Copy the entry's figures and record files into folder; the names of the record files copied."""
    folder.mkdir(parents=True)
    for name in entry.figures:
        shutil.copyfile(entry.record / "figures" / name, folder / name)
    copied = []
    for name in RECORD_FILES:
        source = entry.record / name
        if source.is_file() and source.stat().st_size <= MAX_COPIED_BYTES:
            shutil.copyfile(source, folder / name)
            copied.append(name)
    return copied


def _render_site(entries: list[Entry], runs_dir: Path, site: Path) -> Path:
    env = _environment()
    common = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs_dir": str(runs_dir.resolve()), "version": mllab.__version__,
    }
    skipped = skipped_lines(runs_dir)
    sections = [(s, [e for e in entries if e.section == s]) for s in SECTIONS]
    sections = [(s, group) for s, group in sections if group]
    index = site / "index.html"
    index.write_text(env.get_template("index.html").render(
        sections=sections, counts=counts(entries), total=len(entries), skipped=skipped, root="", **common))
    for i, entry in enumerate(entries):
        files = _copy_record_files(entry, site / "exp" / entry.slug) if entry.record else []
        neighbours = {"previous": entries[i - 1] if i > 0 else None,
                      "next": entries[i + 1] if i + 1 < len(entries) else None}
        (site / entry.page).write_text(env.get_template("experiment.html").render(
            e=entry, r=entry.result, files=files, root="../", **neighbours, **common))
    shutil.copyfile(HERE / "static" / "style.css", site / "style.css")
    (site / MARKER).write_text("built by mllab.report.build_report; the next build replaces this folder\n")
    return index


def build_report(runs_dir: Path, out_dir: Path) -> Path:
    """Build the HTML report of every registered experiment from the latest record of each at any depth
    under runs_dir (runs_dir may be one record folder); returns out_dir/index.html."""
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    check_out_dir(out_dir, runs_dir)
    entries = collect(runs_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        (staging / "exp").mkdir()
        _render_site(entries, runs_dir, staging)
        os.chmod(staging, 0o755)  # mkdtemp makes 0o700
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir / "index.html"


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Rename staging onto out_dir; an old report is moved aside first and deleted after."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, old / "report")
    os.replace(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)
