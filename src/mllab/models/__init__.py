"""Models built from layers: MLP, CNN, seq2seq, GAN nets, auto-encoders."""

from mllab.models.mlp import MLP

__all__ = ["MLP"]
