"""mllab: tested deep-learning techniques and the experiments that check their claims."""

__version__ = "0.1.0"
