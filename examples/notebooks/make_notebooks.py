"""Write examples/notebooks/NN-SECTION.ipynb: one notebook per section of `mllab list`, without outputs.

    python examples/notebooks/make_notebooks.py      # after adding, renaming or removing an experiment

Each notebook sets `PROFILE = "smoke"` in its first code cell (a user switches it to "quick" to judge the
claims), lists its section, runs each of its experiments with `mllab.run` (one cell each, so one claim
can be rerun or given config fields) and ends with a table of the verdicts. Cell ids are fixed, so the
same registry gives the same files (tests/test_notebooks.py checks that the committed ones are current).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

INTRO = """\
# mllab · {section}

Runs each claim of the *{section}* section with `mllab.run` and shows its verdict, checks and figures.
`PROFILE = "smoke"` (next cell) exercises the code in seconds and judges nothing (verdict *not judged*);
set it to `"quick"` to judge the claims (seconds to a minute each on a laptop CPU).

Records go to `mllab-out/runs/NAME/<timestamp>` beside this notebook (`out=` chooses another folder).
Config fields are keyword arguments, checked like the CLI's `--set`: `mllab.describe(NAME)` lists them,
e.g. `mllab.run("batch-size", profile="quick", seed=0, lrs=(0.1, 0.3))`."""

SETTINGS = """\
PROFILE = "smoke"  # "quick" judges the claims; "smoke" only exercises the code (verdict "not judged")
SEED = 0"""

def notebook_name(index: int, section: str) -> str:
    return f"{index:02d}-{section}.ipynb"


def build(section: str, names: list[str]) -> nbformat.NotebookNode:
    """The notebook of `section` running the experiments `names`, in that order."""
    cells = [new_markdown_cell(INTRO.format(section=section), id="intro"),
             new_code_cell(SETTINGS, id="settings"),
             new_code_cell(f'import mllab\n\nresults = {{}}\nmllab.list("{section}")', id="list")]
    for i, name in enumerate(names):
        cells.append(new_markdown_cell(f"## {name}", id=f"title-{i}"))
        cells.append(new_code_cell(f'results["{name}"] = mllab.run("{name}", profile=PROFILE, seed=SEED)\n'
                                   f'results["{name}"]', id=f"run-{i}"))
    cells.append(new_markdown_cell("## Verdicts", id="verdicts-title"))
    cells.append(new_code_cell('for name, result in results.items():\n'
                               '    print(f"{name:<32} {result.verdict:<11} {result.seconds:6.1f} s  {result.path}")',
                               id="verdicts"))
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


def notebooks() -> dict[str, nbformat.NotebookNode]:
    """File name -> notebook, one per section that has experiments, numbered in the notes' order."""
    import mllab
    from mllab.core.registry import SECTIONS

    listing = mllab.list()
    built = {}
    for index, section in enumerate(SECTIONS, start=1):
        names = [e.name for e in listing if e.section == section]
        if names:
            built[notebook_name(index, section)] = build(section, names)
    return built


def text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main() -> int:
    built = notebooks()
    for path in HERE.glob("[0-9][0-9]-*.ipynb"):
        if path.name not in built:
            path.unlink()
            print(f"removed {path.name}")
    for name, notebook in built.items():
        (HERE / name).write_text(text(notebook))
    print(f"wrote {len(built)} notebooks to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
