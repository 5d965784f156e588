"""mllab: tested deep-learning techniques and the experiments that check their claims.

From Python or a notebook: `mllab.run(name, profile=..., seed=..., **config_fields)`, `mllab.list(section)`,
`mllab.describe(name)`, `mllab.load(record_folder)` (see `mllab.api`). They are loaded on first use, so
`import mllab` stays cheap (it imports neither torch nor the experiments).
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files; no display needed

__version__ = "0.1.0"

# mllab.NAME -> mllab.api's attribute, imported on first access (PEP 562)
_API = {"run": "run", "list": "list_experiments", "describe": "describe", "load": "load", "Result": "Result"}


def __getattr__(name: str):
    if name in _API:
        from mllab import api

        value = getattr(api, _API[name])
        globals()[name] = value  # later accesses skip this function
        return value
    raise AttributeError(f"module 'mllab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
