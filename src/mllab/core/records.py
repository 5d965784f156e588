"""Reading run records back: the latest record of each experiment under a runs folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_result(record: Path) -> dict[str, Any] | None:
    """result.json of a record folder, or None when absent or unreadable."""
    try:
        return json.loads((Path(record) / "result.json").read_text())
    except (OSError, ValueError):
        return None


def latest_record(runs_dir: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """(folder, result) of the newest complete record of experiment `name` under runs_dir/name/."""
    folder = Path(runs_dir) / name
    if not folder.is_dir():
        return None
    for record in sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True):
        result = read_result(record)
        if result is not None:
            return record, result
    return None
