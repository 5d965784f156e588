"""Pure nn.Modules: norms written from their formulas, attention, positional encodings, conv helpers."""

from mllab.layers.batchnorm import BatchNorm1d, BatchNorm2d

__all__ = ["BatchNorm1d", "BatchNorm2d"]
