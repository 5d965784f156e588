"""Derived seeds go through `mllab.core.seeding.derive_seed` (issue 17 item 3): no experiment computes one by
arithmetic on the run seed (`run.seed * 100 + k`, `1000 * seed + i`, `seed + 1` as a second stream), which can
overflow torch's 64-bit seed and makes one run's seeds collide with another run's or with the tuning seeds.
(That every consumer takes the 63-bit seeds is exercised by tests/experiments/test_smoke.py: any --seed derives them.)"""

import io
import re
import tokenize
from pathlib import Path

import pytest

import mllab

EXPERIMENTS = Path(mllab.__file__).parent / "experiments"
# seed·number, number·seed, seed + number: arithmetic on a seed (code only; strings and comments are skipped)
PATTERNS = [re.compile(r"seed\s*\*\s*\d"), re.compile(r"\d\s*\*\s*(\w+\s*\.\s*)?seed\b"),
            re.compile(r"\bseed\s*\+\s*\d")]
PACKAGE = EXPERIMENTS.parent
# TensorLoader's per-epoch shuffle seed keeps its formula (every existing order stays the same) and is reduced
# modulo 2**64, so any derived seed fits torch's generator (tests/data/test_loader_seeds.py)
ALLOWED = {"data/loader.py:42"}


def offenders(source: str, name: str = "<source>") -> list[str]:
    """`name:line: code` for every line whose code (strings and comments removed) does arithmetic on a seed."""
    code: dict[int, list[str]] = {}
    skip = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    skip |= {getattr(tokenize, t) for t in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, t)}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code.setdefault(token.start[0], []).append(token.string)
    lines = source.splitlines()
    return [f"{name}:{line}: {lines[line - 1].strip()}" for line, words in sorted(code.items())
            if any(p.search(" ".join(words)) for p in PATTERNS)]


def scan(paths) -> list[str]:
    return [hit for path in paths for hit in offenders(path.read_text(), str(path.relative_to(EXPERIMENTS.parents[1])))]


@pytest.mark.parametrize("line", ["seed = run.seed * 100 + k + 1", "seeds = [cfg.seed_offset + 100 * run.seed + i]",
                                  "g = torch.Generator().manual_seed(seed + 1)", "f(seed=10_000 * seed + 97 * j)",
                                  "x = (base_seed*3)"])
def test_the_scan_finds_seed_arithmetic(line):
    assert offenders(line) != []


@pytest.mark.parametrize("line", ['"""judged seeds run.seed·100 + k + 1"""', "x = 1  # seed * 100 + k",
                                  "seed = derive_seed(run.seed, 'judge', k)", "order = seed % 2**32",
                                  "n = cfg.seeds * 2", "seeds = range(cfg.seeds + 1)", "f'{seed}*3'"])
def test_the_scan_ignores_text_and_the_helper(line):
    assert offenders(line) == []


def test_no_module_computes_a_seed_by_arithmetic():
    hits = [hit for hit in scan(sorted(PACKAGE.rglob("*.py"))) if hit.split(": ")[0].removeprefix("mllab/")
            not in ALLOWED]
    assert hits == [], "derive seeds with mllab.core.seeding.derive_seed(run.seed, *keys):\n" + "\n".join(hits)
