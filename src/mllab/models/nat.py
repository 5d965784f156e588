"""Non-autoregressive Transformer (NAT): predict the target length from the encoder, then every target token at
once (Gu et al., ICLR 2018), optionally refined by mask-predict iterations (Ghazvininejad et al., EMNLP 2019).

Tokens as in `mllab.models.transformer`: PAD = 0, BOS = 1, EOS = 2; the NAT adds MASK = tgt_vocab (an extra
embedding row the output layer never predicts). Its target is y¹ … yⁿ (no BOS, no EOS): the length says where
it ends.

    length:   P(n | x) = softmax(W_len · mean_i memory_i)               n ∈ 0 … max_len
    tokens:   P(y_t | x, y_obs) = softmax(W_out h_t),  t = 1 … n, all in one decoder pass
              decoder input: MASK at every position to predict (plus its sinusoid), the observed tokens elsewhere;
              self-attention is *not* causal (every position sees every other), cross-attention as in the AT.

Independence. One pass predicts every masked token given x only, so where x has two correct outputs
("quatre-vingt-dix" / "nonante") position t may take its word from one and position t+1 from the other: the
multi-modality problem. Sequence-level distillation (train on an AT teacher's outputs, `distill_targets`) gives
each x one output; refinement re-predicts the least confident tokens given the others.

Training (`nat_loss`, conditional masked LM): per row mask k tokens at random, k ~ Uniform{1 … n} ("uniform"),
or all of them ("all", the plain one-pass NAT), and score the masked ones; plus the length cross-entropy.
Decoding (`decode`): n̂ = argmax P(n | x) (n ≥ 1), all MASK, one pass; each refinement i = 1 … R re-masks the
⌊n̂·(R+1−i)/(R+1)⌋ least probable tokens and re-predicts only those (the others are kept).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.positional import sinusoidal_table
from mllab.models.transformer import BOS, EOS, NORMS, PAD, DecoderLayer, EncoderLayer

MASKINGS = ("uniform", "all")


class NATransformer(nn.Module):
    """forward(src (B, m), tgt_in (B, n)) -> (token logits (B, n, V), length logits (B, max_len + 1)).

    tgt_in holds MASK (= tgt_vocab) where a token is to be predicted, observed tokens elsewhere, PAD after the
    length. Same sizes as `Seq2SeqTransformer` (width D, heads, `layers` encoder and decoder layers, MLP
    mlp_ratio·D, norm "pre" | "post"); max_len: the longest target it can predict (tokens)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, *, width: int = 64, heads: int = 4, layers: int = 2,
                 mlp_ratio: int = 4, norm: str = "pre", max_len: int = 32, masking: str = "uniform",
                 length_weight: float = 0.1, dropout: float = 0.0):
        super().__init__()
        if norm not in NORMS:
            raise BadInput(f"nat norm: unknown {norm!r}; choose 'pre' or 'post'")
        if masking not in MASKINGS:
            raise BadInput(f"nat masking: unknown {masking!r}; choose one of {', '.join(MASKINGS)}")
        if layers < 1 or max_len < 1:
            raise BadInput(f"nat layers and max_len: must be >= 1, got {layers} and {max_len}")
        if length_weight < 0:
            raise BadInput(f"nat length_weight: must be >= 0, got {length_weight}")
        self.src_vocab, self.tgt_vocab, self.width, self.max_len = src_vocab, tgt_vocab, width, max_len
        self.mask_id, self.masking, self.length_weight = tgt_vocab, masking, length_weight
        self.src_embed = nn.Embedding(src_vocab, width)
        self.tgt_embed = nn.Embedding(tgt_vocab + 1, width)  # + MASK
        hidden = mlp_ratio * width
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, hidden, norm, dropout) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(width, heads, hidden, norm, dropout) for _ in range(layers))
        self.enc_norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()
        self.dec_norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()
        self.out = nn.Linear(width, tgt_vocab, bias=False)
        self.length_head = nn.Linear(width, max_len + 1)  # P(n | x), n = 0 … max_len
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.src_embed.weight, std=width ** -0.5)
        nn.init.normal_(self.tgt_embed.weight, std=width ** -0.5)

    def embed(self, table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, n) -> √D·E[token] + e^{position}, (B, n, D)."""
        return table(tokens) * math.sqrt(self.width) + sinusoidal_table(tokens.shape[1], self.width, tokens.device)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """src (B, m) -> memory (B, m, D), src_padding (B, m) bool, length logits (B, max_len + 1)."""
        if src.dim() != 2 or src.dtype != torch.int64:
            raise BadInput(f"nat src: expected int64 tokens of shape (batch, length), got {tuple(src.shape)}")
        padding = src == PAD
        x = self.embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, padding)
        memory = self.enc_norm(x)  # (B, m, D)
        keep = (~padding).unsqueeze(-1).float()
        pooled = (memory * keep).sum(1) / keep.sum(1).clamp(min=1)  # mean over real source tokens, (B, D)
        return memory, padding, self.length_head(pooled)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_padding: torch.Tensor) -> torch.Tensor:
        """tgt_in (B, n) (MASK / observed / PAD) -> token logits (B, n, V); every position sees every other."""
        tgt_padding = tgt_in == PAD
        tgt_padding[:, 0] &= ~tgt_padding.all(1)  # an empty target (length 0) keeps one key: no all-masked softmax
        x = self.embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            x = layer.sublayers(x, lambda h, layer=layer: layer.self_attention(h, padding=tgt_padding),
                                lambda h, layer=layer: layer.cross_attention(h, memory, padding=src_padding))
        return self.out(self.dec_norm(x))  # (B, n, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory, padding, length_logits = self.encode(src)
        return self.decode(tgt_in, memory, padding), length_logits

    # ---------------------------------------------------------------------------------------- decoding
    @torch.no_grad()
    def predict_length(self, src: torch.Tensor) -> torch.Tensor:
        """n̂ = argmax_{n ≥ 1} P(n | x): (B,) int64."""
        _, _, length_logits = self.encode(src)
        return length_logits[:, 1:].argmax(-1) + 1

    @torch.no_grad()
    def refine_step(self, memory: torch.Tensor, src_padding: torch.Tensor, tokens: torch.Tensor,
                    probs: torch.Tensor, n_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One mask-predict step: re-mask the n_mask (B,) least probable tokens of each row and re-predict them.
        tokens (B, n) (PAD after each length), probs (B, n) their probabilities -> updated (tokens, probs);
        tokens that were not re-masked are returned unchanged."""
        real = tokens != PAD
        ranked = probs.masked_fill(~real, float("inf")).argsort(-1)  # least probable first, (B, n)
        rank = ranked.argsort(-1)  # each position's rank
        masked = (rank < n_mask[:, None]) & real  # (B, n)
        logits = self.decode(tokens.masked_fill(masked, self.mask_id), memory, src_padding)
        p, y = F.softmax(logits, -1).max(-1)  # (B, n)
        return torch.where(masked, y, tokens), torch.where(masked, p, probs)

    @torch.no_grad()
    def decode_parallel(self, src: torch.Tensor, iterations: int = 0, lengths: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """Tokens (B, n̂_max) int64, PAD after each row's predicted length (no BOS/EOS). iterations: mask-predict
        refinements after the first pass (0: one parallel pass). lengths: use these instead of n̂ (oracle)."""
        check_iterations(iterations)
        memory, src_padding, length_logits = self.encode(src)
        n = length_logits[:, 1:].argmax(-1) + 1 if lengths is None else lengths.clamp(min=1)  # (B,)
        positions = torch.arange(int(n.max()), device=src.device)
        real = positions[None, :] < n[:, None]  # (B, L)
        tokens = torch.where(real, self.mask_id, PAD)  # all MASK, (B, L)
        logits = self.decode(tokens, memory, src_padding)
        probs, tokens = F.softmax(logits, -1).max(-1)
        tokens = tokens.masked_fill(~real, PAD)
        total = iterations + 1
        for i in range(1, total):
            n_mask = (n * (total - i)) // total  # ⌊n̂·(R+1−i)/(R+1)⌋: fewer each round
            tokens, probs = self.refine_step(memory, src_padding, tokens, probs, n_mask)
        return tokens

    def greedy(self, src: torch.Tensor, max_len: int | None = None, **_) -> tuple[torch.Tensor, torch.Tensor]:
        """Same call shape as the AT's decoding, for code that compares them: (tokens (B, n) PAD-filled, zeros)."""
        tokens = self.decode_parallel(src)
        return tokens, torch.zeros(len(src), device=src.device)


def check_iterations(iterations: int) -> None:
    if iterations < 0:
        raise BadInput(f"nat refinement iterations: must be >= 0 (0: one parallel pass), got {iterations}")


def nat_targets(tgt: torch.Tensor) -> torch.Tensor:
    """AT-format rows BOS y¹ … yⁿ EOS PAD… (B, n+2) -> y¹ … yⁿ PAD… (B, n+1): the NAT's target."""
    y = tgt[:, 1:]
    return y.masked_fill((y == EOS) | (y == BOS), PAD)


def nat_loss(model: NATransformer, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """fit's contract: (Σ_rows n_r · mean CE of row r's masked tokens + λ_len Σ_rows CE(length_r), Σ_rows (n_r + 1)):
    the length counts as one item per sentence, as the AT counts its EOS (so an empty target still counts).

    batch = (src (B, m), tgt (B, n+2) in the AT's format, BOS y … EOS PAD…). Masking draws from torch's
    global RNG ("uniform": k_r ~ U{1 … n_r} tokens per row; "all": every token)."""
    src, tgt = batch
    y = nat_targets(tgt)  # (B, n)
    real = y != PAD
    lengths = real.sum(1)  # (B,)
    if int(lengths.max()) > model.max_len:
        raise BadInput(f"nat targets: a target has {int(lengths.max())} tokens, more than the model's max_len "
                       f"{model.max_len}; build the model with a larger max_len")
    if model.masking == "all":
        masked = real
    else:
        k = (torch.rand(len(y), device=y.device) * lengths).floor().long() + 1  # k ~ U{1 … n}, (B,)
        score = torch.rand(y.shape, device=y.device).masked_fill(~real, 2.0)  # random order of real tokens
        masked = (score.argsort(-1).argsort(-1) < k[:, None]) & real  # k random positions per row
    logits, length_logits = model(src, y.masked_fill(masked, model.mask_id))
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)  # (B, n)
    per_row = (ce * masked).sum(1) / masked.sum(1).clamp(min=1)  # mean over the masked tokens of each row
    length_ce = F.cross_entropy(length_logits, lengths, reduction="sum")
    return (per_row * lengths).sum() + model.length_weight * length_ce, (lengths + 1).sum()


def count_nat_tokens(batch: tuple[torch.Tensor, torch.Tensor]) -> int:
    """fit's `count_items` for `nat_loss`: target tokens y¹ … yⁿ (no BOS, no EOS) plus one length per sentence."""
    return int((nat_targets(batch[1]) != PAD).sum()) + len(batch[1])


@torch.no_grad()
def distill_targets(teacher: nn.Module, src: torch.Tensor, max_len: int, batch_size: int = 256) -> torch.Tensor:
    """Sequence-level knowledge distillation (Kim & Rush 2016): the AT teacher's greedy outputs for `src`
    (N, m), as AT-format rows BOS ŷ … EOS PAD… (N, ≤ max_len + 1): the NAT's new training targets."""
    teacher.eval()
    rows = []
    for i in range(0, len(src), batch_size):
        tokens, _ = teacher.greedy(src[i:i + batch_size], max_len)
        rows += [row[: row.index(EOS)] if EOS in row else [t for t in row if t != PAD] for row in tokens.tolist()]
    width = max(len(r) for r in rows) + 2
    out = torch.full((len(rows), width), PAD, dtype=torch.long, device=src.device)
    for i, r in enumerate(rows):
        out[i, : len(r) + 2] = torch.tensor([BOS, *r, EOS], dtype=torch.long)
    return out
