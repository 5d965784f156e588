"""mllab: tested deep-learning techniques and the experiments that check their claims."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files; no display needed

__version__ = "0.1.0"
