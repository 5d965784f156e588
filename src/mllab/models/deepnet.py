"""`DeepNet`: the deep ReLU MLP of the normalization experiments, He-initialised so that it trains without a norm."""

from __future__ import annotations

from torch import nn

from mllab.models.mlp import MLP


class DeepNet(MLP):
    """x (B, in_features) -> logits (B, classes): `depth` blocks of Linear -> norm -> ReLU, then a linear head.

    norm: "none" | "batch" | "layer" | "group" (`groups` groups of channels), see `layers.norms.make_norm`.
    Linear weights use He initialisation, W ~ N(0, 2 / fan_in), biases 0: the signal's scale survives ReLU
    layers, so the network without normalization trains too (a fair baseline for batch norm).
    """

    def __init__(self, in_features: int, classes: int, width: int, depth: int, norm: str, groups: int = 8):
        super().__init__(in_features, classes, width=width, depth=depth, norm=norm, groups=groups)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
