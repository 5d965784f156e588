"""Multi-label classification of canvases two ways: as seq2seq (a canvas encoder and a Transformer decoder that
emits the sorted labels and EOS, so it decides how many to output) and per label (10 sigmoids and a threshold).

Both share the encoder's shape: a conv stem (two 3 × 3 conv + ReLU + 2 × 2 max-pool) turns the canvas
(B, 1, S, S) into (S/4)² feature vectors of width D, plus a learned position embedding per cell, then `layers`
Transformer encoder layers (`mllab.models.transformer.EncoderLayer`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.models.transformer import EncoderLayer, Seq2SeqTransformer


class CanvasStem(nn.Module):
    """(B, 1, S, S) -> (B, (S/4)², D) feature tokens with a learned position per cell."""

    def __init__(self, width: int, side: int):
        super().__init__()
        if side % 4:
            raise BadInput(f"canvas side: must be a multiple of 4, got {side}")
        self.side = side
        self.conv = nn.Sequential(nn.Conv2d(1, width // 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.position = nn.Parameter(torch.zeros((side // 4) ** 2, width))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1:] != (1, self.side, self.side):
            raise BadInput(f"canvas images: expected (batch, 1, {self.side}, {self.side}), got {tuple(images.shape)}")
        h = self.conv(images)  # (B, D, S/4, S/4)
        return h.flatten(2).transpose(1, 2) + self.position  # (B, (S/4)², D)


class CanvasSeq2Seq(Seq2SeqTransformer):
    """The seq2seq Transformer with the canvas as its source: forward(images (B, 1, S, S), tgt_in (B, n)) -> logits
    (B, n, V). greedy / beam_search take images where the text model takes tokens."""

    def __init__(self, tgt_vocab: int, side: int, **kwargs):
        super().__init__(1, tgt_vocab, **kwargs)
        self.stem = CanvasStem(self.width, side)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 1, S, S) -> memory (B, (S/4)², D), padding (B, (S/4)²) all False."""
        x = self.stem(images)
        padding = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        for layer in self.encoder:
            x = layer(x, padding)
        return self.enc_norm(x), padding


class CanvasSigmoid(nn.Module):
    """Per-label baseline: images (B, 1, S, S) -> logits (B, classes); P(label c present) = σ(logit_c)."""

    def __init__(self, classes: int, side: int, *, width: int = 32, heads: int = 4, layers: int = 1,
                 mlp_ratio: int = 2):
        super().__init__()
        self.stem = CanvasStem(width, side)
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, mlp_ratio * width, "pre", 0.0) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for layer in self.encoder:
            x = layer(x, None)
        return self.head(self.norm(x).mean(1))  # mean over cells, (B, classes)


def multilabel_loss(model: CanvasSigmoid, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """fit's contract: (Σ over canvases and labels of the binary cross-entropy, canvases). batch = (images, multi-hot)."""
    images, labels = batch
    return F.binary_cross_entropy_with_logits(model(images), labels, reduction="sum"), len(images)
