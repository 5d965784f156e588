"""One module per section; importing this package registers every experiment."""

import importlib
import pkgutil


def load_all() -> None:
    """Import every module below this package so that its `@experiment`s register."""
    for info in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        importlib.import_module(info.name)
