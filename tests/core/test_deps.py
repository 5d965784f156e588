"""A record is current only while the experiment's module and every module it imports are unchanged."""

import importlib
import sys
import textwrap

import pytest

from mllab.core import deps
from mllab.core.deps import module_closure, source_hash
from mllab.core.registry import all_experiments
from mllab.experiments import load_all


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    root = tmp_path / "fakepkg"
    (root / "lib").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "lib/__init__.py": "",
        "lib/helper.py": "def helper():\n    return 1\n",
        "lib/other.py": "from .helper import helper\n",  # relative import
        "lib/unused.py": "x = 1\n",
        "exp_a.py": "from fakepkg.lib import helper\n",  # `from pkg import submodule`
        "exp_b.py": "import fakepkg.lib.unused\n",
        "exp_c.py": "def f():\n    from fakepkg.lib.other import helper  # inside a function\n",
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    deps.clear_cache()
    yield root
    deps.clear_cache()
    for name in [m for m in sys.modules if m.startswith("fakepkg")]:
        del sys.modules[name]


def test_closure_follows_absolute_relative_and_nested_imports(fake_package):
    assert module_closure("fakepkg.exp_a") == ["fakepkg", "fakepkg.exp_a", "fakepkg.lib", "fakepkg.lib.helper"]
    assert module_closure("fakepkg.exp_b") == ["fakepkg", "fakepkg.exp_b", "fakepkg.lib", "fakepkg.lib.unused"]
    assert "fakepkg.lib.helper" in module_closure("fakepkg.exp_c")  # via other.py's relative import


def test_editing_a_helper_makes_exactly_its_dependents_stale(fake_package):
    before = {m: source_hash(f"fakepkg.{m}") for m in ("exp_a", "exp_b", "exp_c")}
    (fake_package / "lib" / "helper.py").write_text("def helper():\n    return 2\n")
    after = {m: source_hash(f"fakepkg.{m}") for m in ("exp_a", "exp_b", "exp_c")}
    assert after["exp_a"] != before["exp_a"] and after["exp_c"] != before["exp_c"]
    assert after["exp_b"] == before["exp_b"]


def test_extra_bytes_enter_the_hash(fake_package):
    assert source_hash("fakepkg.exp_a", extra=(b"torch==1",)) != source_hash("fakepkg.exp_a", extra=(b"torch==2",))


def test_every_experiment_that_trains_through_fit_depends_on_the_loop():
    load_all()
    for e in all_experiments():
        closure = module_closure(e.func.__module__)
        assert e.func.__module__ in closure and "mllab.core.run" in closure
        source = open(e.source_file).read()
        if "fit(" in source and "from mllab.train" in source:
            assert "mllab.train.loop" in closure, e.name
