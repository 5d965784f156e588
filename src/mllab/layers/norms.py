"""One factory for the normalization layers: `make_norm(kind, features, ...)`.

Every kind normalises activations of shape (B, C) or (B, C, *spatial) (channels first) and ends with a
learned per-channel scale γ and shift β, y = γ x̂ + β. They differ in which values share a mean and variance:

| kind     | statistics over                        | layer                                                     |
|----------|----------------------------------------|-----------------------------------------------------------|
| none     | —                                      | `nn.Identity`                                             |
| batch    | the batch and positions, per channel   | our `BatchNorm1d` / `BatchNorm2d` (running stats at eval) |
| layer    | all channels (and positions) of a row  | `nn.LayerNorm(C)` on (B, C); `nn.GroupNorm(1, C)` with positions |
| group    | `groups` groups of channels of a row   | `nn.GroupNorm(groups, C)`                                 |
| instance | the positions of one channel of a row  | `nn.GroupNorm(C, C)` (= InstanceNorm with affine), needs positions |

Only batch norm makes a sample's output depend on its batch-mates in training.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.batchnorm import BatchNorm1d, BatchNorm2d


def _none(features: int, groups: int, spatial_dims: int) -> nn.Module:
    return nn.Identity()


def _batch(features: int, groups: int, spatial_dims: int) -> nn.Module:
    return BatchNorm2d(features) if spatial_dims == 2 else BatchNorm1d(features)  # (B, C) / (B, C, L) / (B, C, H, W)


def _layer(features: int, groups: int, spatial_dims: int) -> nn.Module:
    # with positions, a row's statistics span every channel and position: one group
    return nn.LayerNorm(features) if spatial_dims == 0 else nn.GroupNorm(1, features)


def _group(features: int, groups: int, spatial_dims: int) -> nn.Module:
    if features % groups:
        raise BadInput(f"group norm: {features} channels cannot be split into {groups} equal groups; "
                       f"choose groups dividing {features}")
    return nn.GroupNorm(groups, features)


def _instance(features: int, groups: int, spatial_dims: int) -> nn.Module:
    if spatial_dims == 0:
        raise BadInput("instance norm: flat (B, C) features have one value per channel to normalise (it would be 0); "
                       "use it on (B, C, *spatial) activations or choose layer norm")
    return nn.GroupNorm(features, features)  # one group per channel = instance norm with γ, β


NORMS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "none": _none, "batch": _batch, "layer": _layer, "group": _group, "instance": _instance,
}


def make_norm(kind: str, features: int, *, groups: int = 8, spatial_dims: int = 0) -> nn.Module:
    """The normalization `kind` (none | batch | layer | group | instance) for `features` channels.

    spatial_dims: positions after the channel dim of the input (0: (B, C); 1: (B, C, L); 2: (B, C, H, W)).
    groups: channel groups of group norm (must divide `features`). BadInput names the choices otherwise."""
    if kind not in NORMS:
        raise BadInput(f"norm: unknown kind {kind!r}; choose one of {', '.join(NORMS)}")
    if spatial_dims not in (0, 1, 2):
        raise BadInput(f"norm: spatial_dims must be 0, 1 or 2, got {spatial_dims}")
    return NORMS[kind](features, groups, spatial_dims)
