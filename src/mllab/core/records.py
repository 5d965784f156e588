"""Reading run records back: every record at any depth under a folder, and the latest of each experiment.

A record is a folder holding a `result.json` with an "experiment" key (see `core.run`). Records are
found at any depth under the folder given (the folder itself may be one record); hidden folders
(staging folders of runs in progress) and built reports (marked by `REPORT_MARKER`, whose copies of
result.json are not records) are not searched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPORT_MARKER = ".mllab-report"  # the file `mllab.report` leaves in a report folder it built


def read_result(record: Path) -> dict[str, Any] | None:
    """result.json of a record folder, or None when absent, unreadable or not a run record."""
    try:
        result = json.loads((Path(record) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and isinstance(result.get("experiment"), str) else None


def find_records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, result) of every record under root (root included), oldest first.

    Order: by the record's start time, then by folder name (the default folder names are timestamps
    with microseconds), so the last record of an experiment is its newest."""
    root = Path(root)
    found = []
    for folder, dirs, files in os.walk(root):
        if REPORT_MARKER in files:
            dirs[:] = []
            continue
        if "result.json" in files:
            result = read_result(Path(folder))
            if result is not None:
                found.append((Path(folder), result))
                dirs[:] = []  # a record holds no other records (figures/ and its own files)
                continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=lambda item: (str(item[1].get("started", "")), item[0].name))


def latest_records(root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Experiment name -> (folder, result) of its newest record under root (any depth)."""
    return {result["experiment"]: (folder, result) for folder, result in find_records(root)}


def latest_record(runs_dir: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """(folder, result) of the newest record of experiment `name` under runs_dir (any depth), or None."""
    return latest_records(runs_dir).get(name)

