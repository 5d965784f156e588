"""A small CNN family: conv blocks (channels, kernel, stride, padding, optional 2×2 max-pooling) and a head:

    "global"  global average pool -> linear: logits (B, classes), any input size
    "flatten" flatten the last feature map -> linear: logits (B, classes) (needs `input_size`)
    "cells"   fully convolutional 1×1 conv -> one logit per input cell (B, H·W) (the board task: no dense layer,
              pooled maps are upsampled back to the input grid, nearest neighbour)

An optional `front` module (e.g. a `SpatialTransformer` or `RandomAffine`) runs on the input first.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.conv import output_size

HEADS = ("global", "flatten", "cells")


class CNN(nn.Module):
    """x (B, C, H, W) -> logits (B, classes) or, with head="cells", (B, H·W).

    channels: output channels of each conv block; kernels: one kernel size per block (or one for all);
    strides: one per block (or one); padding: "same" (k // 2, odd kernels) or an int; pool: a 2×2 max-pool
    (stride 2, ceil mode) after each block."""

    def __init__(self, in_channels: int = 1, classes: int = 10, *, channels: Sequence[int] = (8, 16),
                 kernels: int | Sequence[int] = 3, strides: int | Sequence[int] = 1, padding: str | int = "same",
                 pool: bool = True, head: str = "global", input_size: int = 28, front: nn.Module | None = None):
        super().__init__()
        channels = tuple(channels)
        kernels = (kernels,) * len(channels) if isinstance(kernels, int) else tuple(kernels)
        strides = (strides,) * len(channels) if isinstance(strides, int) else tuple(strides)
        if not channels or len(kernels) != len(channels) or len(strides) != len(channels):
            raise BadInput(f"CNN: give one kernel and stride per conv block ({len(channels)} blocks), "
                           f"got kernels {kernels}, strides {strides}")
        if head not in HEADS:
            raise BadInput(f"CNN head: unknown {head!r}; choose one of {', '.join(HEADS)}")
        if head == "cells" and any(s != 1 for s in strides):
            raise BadInput(f"CNN: the per-cell head needs stride 1 in every block, got strides {strides}")
        if padding == "same" and any(k % 2 == 0 for k in kernels):
            raise BadInput(f"CNN: padding 'same' needs odd kernels, got {kernels}; use odd kernels or an int padding")
        if isinstance(padding, int) and padding < 0:
            raise BadInput(f"CNN padding: must be >= 0, got {padding}")
        blocks, c, n = [], in_channels, input_size
        for out, k, s in zip(channels, kernels, strides):
            p = k // 2 if padding == "same" else int(padding)
            n = output_size(n, k, s, p)  # BadInput when the kernel does not fit the padded input
            blocks += [nn.Conv2d(c, out, k, s, p), nn.ReLU()]
            if pool:
                blocks.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # (B, out, ⌈n/2⌉, ⌈n/2⌉)
                n = -(-n // 2)
            c = out
        self.front = front if front is not None else nn.Identity()
        self.features = nn.Sequential(*blocks)
        self.head_kind, self.input_size = head, input_size
        self.pools = len(channels) if pool else 0
        if head == "global":
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))
        elif head == "flatten":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * n * n, classes))
        else:
            self.head = nn.Conv2d(c, 1, 1)  # one logit per cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.front(x))  # (B, C', H', W')
        if self.head_kind != "cells":
            return self.head(h)  # (B, classes)
        logits = self.head(h)  # (B, 1, H', W')
        if self.pools:  # pooled: back to the board's grid, each logit repeated over the 2^k × 2^k cells it pooled
            factor = 2 ** self.pools
            logits = logits.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
            logits = logits[..., :x.shape[-2], :x.shape[-1]]  # (B, 1, H, W)
        return logits.flatten(1)  # (B, H·W)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
