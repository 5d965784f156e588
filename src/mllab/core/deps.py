"""Which source files a module's behaviour depends on: itself and every module of its package it imports,
directly or transitively (read from the import statements, without importing anything).

The tour keeps a record only while none of these files changed; so editing `train/loop.py` makes every
experiment that trains through `fit` stale, and leaves the others current.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path


def _spec_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _parents(module: str) -> list[str]:
    """`a.b.c` -> ['a', 'a.b']: importing a module runs its packages' __init__ first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of the modules `path` (the source of `module`) imports, whole-file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            # `from pkg import sub` may name a submodule
            names.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


@lru_cache(maxsize=None)
def _direct(module: str, root: str) -> tuple[str, ...]:
    path = _spec_file(module)
    if path is None:
        return ()
    found = set()
    for name in _imports(module, path):
        if name == root or name.startswith(root + "."):
            for candidate in (*_parents(name), name):
                if _spec_file(candidate) is not None:
                    found.add(candidate)
    return tuple(sorted(found))


def module_closure(module: str, root: str | None = None) -> list[str]:
    """`module`, its packages and every module under `root` (default: its top-level package) it imports,
    transitively; sorted."""
    root = root or module.split(".")[0]
    seen: set[str] = set()
    todo = [module, *_parents(module)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(n for n in _direct(name, root) if n not in seen)
    return sorted(n for n in seen if _spec_file(n) is not None)


def source_hash(module: str, extra: tuple[bytes, ...] = ()) -> str:
    """sha256 (16 hex digits) over the names and bytes of every file in `module_closure(module)`, plus `extra`."""
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part)
    for name in module_closure(module):
        digest.update(name.encode() + b"\0")
        digest.update(_spec_file(name).read_bytes())  # type: ignore[union-attr]
    return digest.hexdigest()[:16]


def clear_cache() -> None:
    """Forget parsed imports (after source files changed within one process, e.g. in tests)."""
    _direct.cache_clear()
