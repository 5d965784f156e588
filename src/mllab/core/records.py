"""Reading run records back: every record at any depth under a folder, the latest of each experiment, and
the record files that could not be read (skipped, with the reason).

A record is a folder holding a `result.json` with an "experiment" key (see `core.run`). Records are
found at any depth under the folder given (the folder itself may be one record); hidden folders
(staging folders of runs in progress) and built reports (marked by `REPORT_MARKER`, whose copies of
result.json are not records) are not searched. A result.json that does not parse (cut short by a full disk
or an interrupted copy) is a *corrupt* record: `scan_records` lists it with its parse error, and
`latest_corrupt` says which experiments have one newer than their newest valid record.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_MARKER = ".mllab-report"  # the file `mllab.report` leaves in a report folder it built
NAMED = re.compile(r'"experiment"\s*:\s*"((?:[^"\\]|\\.)*)"')  # the name, readable in a record cut short


@dataclass(frozen=True)
class SkippedRecord:
    """A result.json that is not a usable run record."""

    folder: Path
    reason: str  # "corrupt" (does not parse) | "unreadable" (no permission ...) | "not a run record"
    detail: str  # the parse error, or what is missing
    experiment: str | None  # the experiment its text names, else the folder's parent (runs/NAME/<timestamp>)
    mtime: float  # result.json's modification time, seconds since the epoch

    def line(self) -> str:
        return f"{self.folder / 'result.json'}: {self.reason} ({self.detail})"


def _read(folder: Path) -> tuple[dict[str, Any] | None, SkippedRecord | None]:
    """(result, None) for a run record; (None, why) for a result.json that is not one."""
    path = folder / "result.json"
    try:
        mtime, data = path.stat().st_mtime, path.read_bytes()
    except OSError as exc:
        return None, SkippedRecord(folder, "unreadable", exc.strerror or str(exc), None, 0.0)
    try:
        result = json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        name = NAMED.search(data.decode(errors="replace"))
        experiment = json.loads(f'"{name.group(1)}"') if name else folder.parent.name
        return None, SkippedRecord(folder, "corrupt", str(exc), experiment, mtime)
    if isinstance(result, dict) and isinstance(result.get("experiment"), str):
        return result, None
    return None, SkippedRecord(folder, "not a run record", 'no "experiment" key', None, mtime)


def read_result(record: Path) -> dict[str, Any] | None:
    """result.json of a record folder, or None when absent, unreadable or not a run record."""
    return _read(Path(record))[0]


def scan_records(root: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[SkippedRecord]]:
    """((folder, result) of every record under root (root included), oldest first; the result.json files
    skipped, in folder order).

    Order: by the record's start time, then by folder name (the default folder names are timestamps
    with microseconds), so the last record of an experiment is its newest."""
    root = Path(root)
    found, skipped = [], []
    for folder, dirs, files in os.walk(root):
        if REPORT_MARKER in files:
            dirs[:] = []
            continue
        if "result.json" in files:
            result, problem = _read(Path(folder))
            if result is not None:
                found.append((Path(folder), result))
                dirs[:] = []  # a record holds no other records (figures/ and its own files)
                continue
            skipped.append(problem)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=lambda item: (str(item[1].get("started", "")), item[0].name)), skipped


def find_records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, result) of every record under root (root included), oldest first (see scan_records)."""
    return scan_records(root)[0]


def latest_records(root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Experiment name -> (folder, result) of its newest record under root (any depth)."""
    return {result["experiment"]: (folder, result) for folder, result in find_records(root)}


def latest_record(runs_dir: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """(folder, result) of the newest record of experiment `name` under runs_dir (any depth), or None."""
    return latest_records(runs_dir).get(name)


def latest_corrupt(records: list[tuple[Path, dict[str, Any]]], skipped: list[SkippedRecord]
                   ) -> dict[str, SkippedRecord]:
    """Experiment name -> its newest corrupt record, for experiments whose newest valid record (if any) is
    older than it (by result.json's modification time): what `scan_records` found is shown as corrupt there."""
    latest = {result["experiment"]: folder for folder, result in records}
    corrupt: dict[str, SkippedRecord] = {}
    for record in skipped:
        if record.reason != "corrupt" or record.experiment is None:
            continue
        if record.experiment in latest and _mtime(latest[record.experiment]) >= record.mtime:
            continue  # a newer valid record supersedes it
        if record.experiment not in corrupt or corrupt[record.experiment].mtime < record.mtime:
            corrupt[record.experiment] = record
    return corrupt


def _mtime(folder: Path) -> float:
    try:
        return (folder / "result.json").stat().st_mtime
    except OSError:
        return 0.0
