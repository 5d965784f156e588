"""The convolution of the notes, written from its formula, and the receptive field of a stack, in closed form.

    y[o, i, j] = Σ_{c,u,v} w[o, c, u, v] · x[c, s·i + d·u − p, s·j + d·v − p] + b[o]

`conv2d` is the readable reference (tested equal to `F.conv2d`); models use `nn.Conv2d`.
`receptive_field(stack, input_shape)` follows one output neuron back through a stack of conv / pool layers:

    n_out = ⌊(n_in + 2p − d(k − 1) − 1) / s⌋ + 1      output size
    j_out = j_in · s                                  jump: input pixels between neighbouring outputs
    r_out = r_in + d(k − 1) · j_in                    receptive-field size (input pixels)
    a_out = a_in − p · j_in                           input coordinate of output 0's first field pixel

so output i covers input pixels a + i·j … a + i·j + r − 1 (clipped to the image: the rest is padding).

That box is the field's extent. It is exactly the set of pixels the neuron depends on (`FieldInfo.exact`) when
the field has no holes (every layer's d·j_in ≤ r_in: the dilated taps' own fields touch) and every layer's
padding is a multiple of its dilation and at most its half-span, p ≤ d(k − 1)/2 (larger padding makes border
outputs whose taps read only padding). Otherwise the dependency set is a subset of the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2:
        raise BadInput(f"conv2d: {name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1; BadInput when the arguments make no output."""
    if stride < 1:
        raise BadInput(f"stride: must be >= 1, got {stride}")
    if padding < 0:
        raise BadInput(f"padding: must be >= 0, got {padding}")
    if kernel < 1 or dilation < 1:
        raise BadInput(f"kernel and dilation: must be >= 1, got kernel {kernel}, dilation {dilation}")
    span = dilation * (kernel - 1) + 1  # input pixels one kernel covers
    if span > n + 2 * padding:
        raise BadInput(f"kernel: spans {span} pixels (kernel {kernel}, dilation {dilation}) but the padded input has "
                       f"{n + 2 * padding}; use a smaller kernel or more padding")
    return (n + 2 * padding - span) // stride + 1


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> torch.Tensor:
    """The notes' convolution (cross-correlation, as in every deep-learning library).

    x (B, C, H, W); weight (O, C/groups, kh, kw); bias (O,) -> y (B, O, H', W').
    Each output pixel is the inner product of one shared filter with its receptive field.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    B, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    if groups < 1 or C % groups or O % groups or Cg != C // groups:
        raise BadInput(f"conv2d: groups={groups} must divide the {C} input and {O} output channels, and the weight "
                       f"must have C/groups = {C // max(groups, 1)} input channels (it has {Cg})")
    Ho, Wo = output_size(H, kh, sh, ph, dh), output_size(W, kw, sw, pw, dw)
    xp = F.pad(x, (pw, pw, ph, ph))  # (B, C, H + 2p, W + 2p): x[c, s·i + d·u − p] = xp[c, s·i + d·u]
    rows = sh * torch.arange(Ho, device=x.device)[:, None] + dh * torch.arange(kh, device=x.device)[None, :]  # (Ho, kh)
    cols = sw * torch.arange(Wo, device=x.device)[:, None] + dw * torch.arange(kw, device=x.device)[None, :]  # (Wo, kw)
    # unfold: fields[b, c, i, j, u, v] = xp[b, c, s·i + d·u, s·j + d·v]
    fields = xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # (B, C, Ho, Wo, kh, kw)
    fields = fields.view(B, groups, C // groups, Ho, Wo, kh, kw)  # (B, G, C/G, Ho, Wo, kh, kw)
    w = weight.view(groups, O // groups, Cg, kh, kw)  # (G, O/G, C/G, kh, kw)
    y = torch.einsum("bgcijuv,gocuv->bgoij", fields, w).reshape(B, O, Ho, Wo)  # Σ_{c,u,v} w · x
    if bias is not None:
        y = y + bias.view(1, O, 1, 1)  # + b[o]
    return y


# ---------------------------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class LayerGeometry:
    """One conv or pool layer as the receptive-field recurrence sees it (square kernels)."""

    kind: str  # "conv" | "pool"
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    in_channels: int = 1
    out_channels: int = 1  # a pool keeps its input channels

    @property
    def parameters(self) -> int:
        """Weights and biases: C_in·C_out·k² + C_out for a conv, 0 for a pool."""
        return self.in_channels * self.out_channels * self.kernel ** 2 + self.out_channels if self.kind == "conv" else 0


@dataclass(frozen=True)
class FieldInfo:
    """After one layer, along one axis (square images and kernels): output size n, jump j, field size r, start a.

    Output i sees input pixels a + i·j … a + i·j + r − 1. `params` are the layer's weights; `dense_params` those of a
    fully connected layer mapping the same input values (C·H·W) to the same outputs (C'·H'·W')."""

    layer: int
    kind: str
    size: int
    jump: int
    field: int
    start: int
    channels: int
    params: int
    dense_params: int
    exact: bool = True  # the clipped box is exactly the dependency set (see the module docstring)

    def box(self, i: int, j: int, image: int | None = None) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive, of output (i, j)'s field; clipped to the image when given."""
        top, left = self.start + i * self.jump, self.start + j * self.jump
        box = (top, left, top + self.field - 1, left + self.field - 1)
        if image is None:
            return box
        return max(box[0], 0), max(box[1], 0), min(box[2], image - 1), min(box[3], image - 1)


def geometry(stack: Iterable[nn.Module | LayerGeometry], in_channels: int = 1) -> list[LayerGeometry]:
    """The conv / pool layers of `stack` (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d or LayerGeometry); activations,
    norms and the like are skipped (they map each pixel to itself)."""
    layers, channels = [], in_channels
    for module in stack:
        if isinstance(module, LayerGeometry):
            layer = module
        elif isinstance(module, nn.Conv2d):
            k, s, p, d = module.kernel_size, module.stride, module.padding, module.dilation
            if isinstance(p, str) or len({k[0], k[1]}) > 1 or s[0] != s[1] or p[0] != p[1] or d[0] != d[1]:
                raise BadInput(f"receptive_field: {module} must have square kernels and int stride/padding/dilation")
            layer = LayerGeometry("conv", k[0], s[0], p[0], d[0], module.in_channels, module.out_channels)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = module.kernel_size, module.stride, module.padding
            d = getattr(module, "dilation", 1)
            if not all(isinstance(v, int) for v in (k, s, p, d)):
                raise BadInput(f"receptive_field: {module} must use int kernel/stride/padding")
            layer = LayerGeometry("pool", k, s, p, d, channels, channels)
        else:
            continue
        channels = layer.out_channels
        layers.append(layer)
    return layers


def receptive_field(stack: Iterable[nn.Module | LayerGeometry], input_shape: tuple[int, int, int],
                    ignore_jump: bool = False) -> list[FieldInfo]:
    """Each layer's output size, jump, receptive-field size and start (see the module docstring), plus its
    parameter count against a dense layer of the same input and output sizes. input_shape: (C, H, W), H = W.

    ignore_jump=True applies the classic mistake r_out = r_in + d(k − 1) (forgetting the jump): for the
    negative control and for teaching; never for real use."""
    C, H, W = input_shape
    if H != W:
        raise BadInput(f"receptive_field: input_shape must be square (C, H, H), got {input_shape}")
    n, jump, field, start, channels, exact = H, 1, 1, 0, C, True
    infos = []
    for index, layer in enumerate(geometry(stack, C)):
        n_in, c_in = n, channels
        exact = exact and layer.dilation * jump <= field and layer.padding % layer.dilation == 0 \
            and 2 * layer.padding <= layer.dilation * (layer.kernel - 1)  # no holes, no all-padding borders
        n = output_size(n, layer.kernel, layer.stride, layer.padding, layer.dilation)  # ⌊(n+2p−d(k−1)−1)/s⌋+1
        field = field + layer.dilation * (layer.kernel - 1) * (1 if ignore_jump else jump)  # r += d(k−1)·j
        start = start - layer.padding * jump  # a −= p·j
        jump = jump * layer.stride  # j *= s
        channels = layer.out_channels if layer.kind == "conv" else c_in
        dense = (c_in * n_in * n_in) * (channels * n * n) + channels * n * n  # W (out × in) + b
        infos.append(FieldInfo(index, layer.kind, n, jump, field, start, channels, layer.parameters, dense, exact))
    return infos


def field_mask(info: FieldInfo, i: int, j: int, image: int) -> torch.Tensor:
    """(image, image) bool: the input pixels of output (i, j)'s receptive field, by the formula."""
    top, left, bottom, right = info.box(i, j, image)
    mask = torch.zeros(image, image, dtype=torch.bool)
    mask[top:max(bottom + 1, 0), left:max(right + 1, 0)] = True  # a field wholly in the padding is empty
    return mask


def probe_stack(stack: Sequence[LayerGeometry], in_channels: int = 1) -> nn.Sequential:
    """A linear float64 network with `stack`'s geometry and all-positive weights, for gradient probing: no
    cancellation, so ∂y/∂x ≠ 0 exactly where y depends on x. A max-pool becomes an average pool of the same
    geometry: its output depends on every pixel of its window (any may be the max), but its gradient flows to
    the arg-max only."""
    layers, channels = [], in_channels
    for g in stack:
        if g.kind == "conv":
            conv = nn.Conv2d(channels, g.out_channels, g.kernel, g.stride, g.padding, g.dilation).double()
            nn.init.uniform_(conv.weight, 0.5, 1.0)
            nn.init.zeros_(conv.bias)
            layers.append(conv)
            channels = g.out_channels
        else:
            if g.dilation != 1:
                raise BadInput("probe_stack: pools with dilation are not supported; use dilation 1")
            layers.append(nn.AvgPool2d(g.kernel, g.stride, g.padding, count_include_pad=True))
    return nn.Sequential(*layers)


def gradient_support(net: nn.Module, input_shape: tuple[int, int, int], layer_outputs: int, i: int, j: int
                     ) -> torch.Tensor:
    """(H, W) bool: pixels where ∂y[0, i, j]/∂x ≠ 0 for the output of the first `layer_outputs` layers of `net`
    (summed over input channels), on a random positive float64 input."""
    x = torch.rand(1, *input_shape, dtype=torch.float64).add_(0.1).requires_grad_(True)
    y = x
    for module in list(net)[:layer_outputs]:
        y = module(y)
    y[0, 0, i, j].backward()
    return (x.grad[0].abs().sum(0) != 0)
