"""Sequence taggers: tokens (B, n) int64 -> logits (B, n, classes), one prediction per token.

- `AttentionTagger`: embedding + positional encoding + N pre-norm Transformer blocks + a per-token head;
  `window` truncates every block's attention to ±w (the banded path, O(n·w));
- `WindowMLPTagger`: each token sees its ±w neighbours through one fully connected network (the notes'
  "consider the neighbours with a fully connected network"): the embeddings of tokens i − w … i + w
  concatenated, then an MLP;
- `GRUTagger`: a (bidirectional) GRU, n sequential steps, then the per-token head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.attention import MultiHeadAttention
from mllab.layers.positional import ENCODINGS, LearnedEncoding, RelativePositionBias, SinusoidalEncoding


class Block(nn.Module):
    """Pre-norm Transformer block: a ← a + MHA(LN(a)); a ← a + MLP(LN(a)). x (B, n, D) -> (B, n, D)."""

    def __init__(self, width: int, heads: int, *, mlp_ratio: int = 2, relative: int | None = None,
                 impl: str = "fast"):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = MultiHeadAttention(width, heads, impl=impl)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))
        self.relative = RelativePositionBias(heads, relative) if relative is not None else None

    def forward(self, x: torch.Tensor, *, padding: torch.Tensor | None = None, window: int | None = None,
                causal: bool = False) -> torch.Tensor:
        n = x.shape[1]
        bias = band = None
        if self.relative is not None:
            if window is not None and self.attention.impl == "banded":
                band = self.relative.band(window)  # (h, 2w + 1)
            else:
                bias = self.relative(n)  # (h, n, n)
        x = x + self.attention(self.norm1(x), padding=padding, window=window, causal=causal, bias=bias,
                               band_bias=band)
        return x + self.mlp(self.norm2(x))


class AttentionTagger(nn.Module):
    """tokens (B, n) -> logits (B, n, classes). positional: "none" | "sinusoidal" | "learned" | "relative"
    (a learned bias per head and offset in every block, offsets clipped at max_len); window: truncate
    attention to ±w (None: the whole sequence)."""

    def __init__(self, vocab: int, classes: int, *, width: int = 32, heads: int = 2, depth: int = 1,
                 positional: str = "sinusoidal", max_len: int = 512, window: int | None = None, impl: str | None = None,
                 mlp_ratio: int = 2):
        super().__init__()
        if positional not in ENCODINGS:
            raise BadInput(f"positional encoding: unknown {positional!r}; choose one of {', '.join(ENCODINGS)}")
        if window is not None and window < 0:
            raise BadInput(f"attention window: must be >= 0 positions (or None for full attention), got {window}")
        impl = impl or ("banded" if window is not None else "fast")
        self.window, self.positional = window, positional
        self.embed = nn.Embedding(vocab, width)
        self.position = {"sinusoidal": lambda: SinusoidalEncoding(width), "learned": lambda: LearnedEncoding(max_len, width)
                         }.get(positional, lambda: nn.Identity())()
        relative = max_len if positional == "relative" else None
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio=mlp_ratio, relative=relative, impl=impl)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        x = self.position(self.embed(tokens))  # aⁱ + eⁱ, (B, n, D)
        for block in self.blocks:
            x = block(x, padding=padding, window=self.window)
        return self.head(self.norm(x))  # (B, n, classes)

    def attention_maps(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """α' of every block, each (B, h, n, n), via the explicit path (for figures)."""
        maps = []
        x = self.position(self.embed(tokens))
        for block in self.blocks:
            bias = block.relative(x.shape[1]) if block.relative is not None else None
            _, weights = block.attention(block.norm1(x), window=self.window, bias=bias, return_weights=True)
            maps.append(weights)
            x = block(x, window=self.window)
        return maps


class WindowMLPTagger(nn.Module):
    """tokens (B, n) -> logits (B, n, classes): token i sees only tokens i − w … i + w (zero beyond the ends)."""

    def __init__(self, vocab: int, classes: int, *, window: int = 3, embed: int = 16, hidden: int = 64):
        super().__init__()
        if window < 0:
            raise BadInput(f"window MLP: window must be >= 0 neighbours, got {window}")
        self.window = window
        self.embed = nn.Embedding(vocab, embed)
        self.mlp = nn.Sequential(nn.Linear((2 * window + 1) * embed, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embed(tokens)  # (B, n, E)
        w = self.window
        e = F.pad(e, (0, 0, w, w))  # zeros beyond the ends, (B, n + 2w, E)
        neighbours = e.unfold(1, 2 * w + 1, 1)  # (B, n, E, 2w + 1)
        return self.mlp(neighbours.transpose(-1, -2).flatten(2))  # [e_{i−w}; …; e_{i+w}] -> (B, n, classes)


class GRUTagger(nn.Module):
    """tokens (B, n) -> logits (B, n, classes) through a GRU (bidirectional by default): n sequential steps."""

    def __init__(self, vocab: int, classes: int, *, width: int = 32, layers: int = 1, bidirectional: bool = True):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.gru = nn.GRU(width, width, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(width * (2 if bidirectional else 1), classes)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        h, _ = self.gru(self.embed(tokens))  # (B, n, D·directions)
        return self.head(h)


def tagging_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """fit's contract: Σ over labelled tokens of −log p(y | tokens), and the number of labelled tokens."""
    tokens, labels = batch
    logits = model(tokens)  # (B, n, C)
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
    return loss, (labels != -100).sum()


def count_labelled(batch: tuple[torch.Tensor, torch.Tensor]) -> int:
    """fit's `count_items` for `tagging_loss`: labelled tokens in the batch."""
    return int((batch[1] != -100).sum())


@torch.no_grad()
def token_accuracy(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Per labelled position: 1.0 where argmax matches, as a (N, n) float tensor with NaN where unlabelled."""
    model.eval()
    out = []
    for lo in range(0, len(tokens), batch):
        pred = model(tokens[lo:lo + batch]).argmax(-1)
        out.append((pred == labels[lo:lo + batch]).float())
    correct = torch.cat(out)
    return correct.masked_fill(labels == -100, float("nan"))
