"""The seq2seq Transformer (Vaswani et al. 2017): an encoder over the source, a decoder that attends to its
own prefix (causal self-attention) and to the encoder's output (cross-attention).

Tokens: PAD = 0, BOS = 1, EOS = 2 (shared by `mllab.data.text`). A target row is BOS y¹ … yⁿ EOS PAD…;
teacher forcing feeds BOS y¹ … yⁿ and asks for y¹ … yⁿ EOS (`seq2seq_loss`, token-weighted for `fit`).

Layers (`norm`):
    Post-LN (the original):  a ← LN(a + Sublayer(a))
    Pre-LN (Xiong et al.):   a ← a + Sublayer(LN(a)),  and one final LN after the stack
Masks: the source's padding is hidden from every query (encoder self-attention and cross-attention);
the decoder's self-attention is causal (j ≤ i) and hides target padding.

Decoding (`greedy`, `beam_search`) runs the decoder one token at a time. With `cache=True` each layer keeps
the keys and values of the tokens decoded so far (and the encoder's, computed once), so step t costs O(t)
instead of re-running the whole prefix (O(t²) over the sequence); `cache=False` recomputes everything and
is the reference the cache is tested against. The KV-cache step is written here on top of
`MultiHeadAttention`'s weights (`_attend_cached`); `layers/attention.py` itself has no cache hook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.attention import (
    MultiHeadAttention,
    attend_fast,
    padding_allowed,
)
from mllab.layers.positional import sinusoidal_table

PAD, BOS, EOS = 0, 1, 2
NORMS = ("pre", "post")


class FeedForward(nn.Sequential):
    def __init__(self, width: int, hidden: int, dropout: float):
        super().__init__(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, width))


class EncoderLayer(nn.Module):
    """Self-attention + MLP, Post-LN or Pre-LN. x (B, m, D), padding (B, m) -> (B, m, D)."""

    def __init__(self, width: int, heads: int, hidden: int, norm: str, dropout: float):
        super().__init__()
        self.pre = norm == "pre"
        self.attention = MultiHeadAttention(width, heads)
        self.mlp = FeedForward(width, hidden, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        if self.pre:
            x = x + self.drop(self.attention(self.norm1(x), padding=padding))  # a + MHA(LN(a))
            return x + self.drop(self.mlp(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attention(x, padding=padding)))  # LN(a + MHA(a))
        return self.norm2(x + self.drop(self.mlp(x)))


class DecoderLayer(nn.Module):
    """Causal self-attention + cross-attention to the memory + MLP. x (B, n, D), memory (B, m, D) -> (B, n, D)."""

    def __init__(self, width: int, heads: int, hidden: int, norm: str, dropout: float):
        super().__init__()
        self.pre = norm == "pre"
        self.self_attention = MultiHeadAttention(width, heads)
        self.cross_attention = MultiHeadAttention(width, heads)
        self.mlp = FeedForward(width, hidden, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def sublayers(self, x: torch.Tensor, self_attend, cross_attend) -> torch.Tensor:
        """The layer's wiring, shared by the full pass and the cached step (only the attention calls differ)."""
        if self.pre:
            x = x + self.drop(self_attend(self.norm1(x)))
            x = x + self.drop(cross_attend(self.norm2(x)))
            return x + self.drop(self.mlp(self.norm3(x)))
        x = self.norm1(x + self.drop(self_attend(x)))
        x = self.norm2(x + self.drop(cross_attend(x)))
        return self.norm3(x + self.drop(self.mlp(x)))

    def forward(self, x, memory, src_padding, tgt_padding=None):
        return self.sublayers(
            x, lambda h: self.self_attention(h, padding=tgt_padding, causal=True),
            lambda h: self.cross_attention(h, memory, padding=src_padding))


def _attend_cached(mha: MultiHeadAttention, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   allowed: torch.Tensor | None) -> torch.Tensor:
    """One query step of `mha` with its keys and values given: x (B, 1, D), k, v (B, h, t, d) -> (B, 1, D)."""
    q = mha.split(mha.w_q(x))  # (B, h, 1, d)
    out = attend_fast(q, k, v, allowed)  # b = Σ_j softmax_j(q·k_j/√d) v_j, (B, h, 1, d)
    return mha.w_o(out.transpose(1, 2).reshape(x.shape[0], 1, mha.width))


@dataclass
class DecodeState:
    """What decoding carries between steps. Rows are (batch × beam); `reorder` follows the beams."""

    memory: torch.Tensor  # (R, m, D)
    src_padding: torch.Tensor  # (R, m) bool
    prefix: torch.Tensor  # (R, t) tokens fed so far (BOS first)
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer, (R, h, m, d) each: computed once
    self_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer, (R, h, t, d) each: grows

    def reorder(self, index: torch.Tensor) -> None:
        self.memory, self.src_padding, self.prefix = self.memory[index], self.src_padding[index], self.prefix[index]
        if self.cross_kv is not None:
            self.cross_kv = [(k[index], v[index]) for k, v in self.cross_kv]
            self.self_kv = [(k[index], v[index]) for k, v in self.self_kv]


class Seq2SeqTransformer(nn.Module):
    """src (B, m) int64, tgt_in (B, n) int64 -> logits (B, n, tgt_vocab). PAD = 0 marks padding in both.

    width D, heads h, `layers` encoder and `layers` decoder layers, MLP hidden = mlp_ratio·D, norm "pre" | "post",
    tie_weights: the output projection reuses the target embedding (W_out = E_tgt), label_smoothing ε for
    `seq2seq_loss`. Positions: sinusoids added to √D-scaled embeddings (any length)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, *, width: int = 64, heads: int = 4, layers: int = 2,
                 mlp_ratio: int = 4, norm: str = "pre", tie_weights: bool = True, label_smoothing: float = 0.0,
                 dropout: float = 0.0):
        super().__init__()
        if norm not in NORMS:
            raise BadInput(f"transformer norm: unknown {norm!r}; choose 'pre' or 'post'")
        if layers < 1:
            raise BadInput(f"transformer layers: must be >= 1, got {layers}")
        if not 0 <= label_smoothing < 1:
            raise BadInput(f"transformer label_smoothing: must be in [0, 1), got {label_smoothing}")
        self.src_vocab, self.tgt_vocab, self.width, self.norm = src_vocab, tgt_vocab, width, norm
        self.label_smoothing = label_smoothing
        self.src_embed = nn.Embedding(src_vocab, width)
        self.tgt_embed = nn.Embedding(tgt_vocab, width)
        hidden = mlp_ratio * width
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, hidden, norm, dropout) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(width, heads, hidden, norm, dropout) for _ in range(layers))
        self.enc_norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()  # Pre-LN's final LN
        self.dec_norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()
        self.out = nn.Linear(width, tgt_vocab, bias=False)
        if tie_weights:
            self.out.weight = self.tgt_embed.weight  # W_out = E_tgt
        self.drop = nn.Dropout(dropout)
        for p in self.parameters():  # Xavier as in the original; embeddings ~ N(0, 1/D) so √D·E is O(1)
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.src_embed.weight, std=width ** -0.5)
        nn.init.normal_(self.tgt_embed.weight, std=width ** -0.5)

    # -------------------------------------------------------------------------------------- full passes
    def embed(self, table: nn.Embedding, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """tokens (B, n) at positions start … start+n−1 -> √D·E[token] + e^{position}, (B, n, D)."""
        n = tokens.shape[1]
        position = sinusoidal_table(start + n, self.width, tokens.device)[start:]  # (n, D)
        return self.drop(table(tokens) * math.sqrt(self.width) + position)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, m) -> memory (B, m, D), src_padding (B, m) bool."""
        self._check_tokens("src", src, self.src_vocab)
        padding = src == PAD
        x = self.embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, padding)
        return self.enc_norm(x), padding

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_padding: torch.Tensor) -> torch.Tensor:
        """tgt_in (B, n) (BOS first) -> logits (B, n, V); position i sees tgt_in[:, :i+1] and the whole source."""
        self._check_tokens("tgt", tgt_in, self.tgt_vocab)
        tgt_padding = tgt_in == PAD
        x = self.embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            x = layer(x, memory, src_padding, tgt_padding)
        return self.out(self.dec_norm(x))  # (B, n, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, padding = self.encode(src)
        return self.decode(tgt_in, memory, padding)

    @torch.no_grad()
    def cross_attention(self, src: torch.Tensor, tgt_in: torch.Tensor) -> list[torch.Tensor]:
        """α' of every decoder layer's cross-attention under teacher forcing: each (B, h, n, m) (for figures)."""
        memory, src_padding = self.encode(src)
        x = self.embed(self.tgt_embed, tgt_in)
        maps = []
        for layer in self.decoder:
            def cross(h, layer=layer):
                out, weights = layer.cross_attention(h, memory, padding=src_padding, return_weights=True)
                maps.append(weights)
                return out
            x = layer.sublayers(x, lambda h, layer=layer: layer.self_attention(h, padding=tgt_in == PAD, causal=True),
                                cross)
        return maps

    def _check_tokens(self, name: str, tokens: torch.Tensor, vocab: int) -> None:
        if tokens.dim() != 2 or tokens.dtype != torch.int64:
            raise BadInput(f"transformer {name}: expected int64 tokens of shape (batch, length), got "
                           f"{str(tokens.dtype).replace('torch.', '')} {tuple(tokens.shape)}")

    # ---------------------------------------------------------------------------------------- decoding
    def start(self, src: torch.Tensor, cache: bool) -> DecodeState:
        memory, padding = self.encode(src)
        prefix = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        state = DecodeState(memory, padding, prefix)
        if cache:
            state.cross_kv = [(layer.cross_attention.split(layer.cross_attention.w_k(memory)),
                               layer.cross_attention.split(layer.cross_attention.w_v(memory)))
                              for layer in self.decoder]  # K, V of the source: once per sentence
            state.self_kv = [None] * len(self.decoder)
        return state

    def step(self, state: DecodeState) -> torch.Tensor:
        """log p(y_t | y_<t, x) for the last token of state.prefix: (R, V). With a cache, only that token runs."""
        if state.cross_kv is None:  # reference: recompute the whole prefix, keep the last position
            return F.log_softmax(self.decode(state.prefix, state.memory, state.src_padding)[:, -1], -1)
        t = state.prefix.shape[1] - 1
        x = self.embed(self.tgt_embed, state.prefix[:, -1:], start=t)  # (R, 1, D)
        cross_allowed = padding_allowed(state.src_padding)  # (R, 1, 1, m)
        for i, layer in enumerate(self.decoder):
            def self_attend(h, i=i, layer=layer):
                mha = layer.self_attention
                k_new, v_new = mha.split(mha.w_k(h)), mha.split(mha.w_v(h))  # (R, h, 1, d)
                if state.self_kv[i] is not None:
                    k_new = torch.cat([state.self_kv[i][0], k_new], dim=2)  # (R, h, t+1, d)
                    v_new = torch.cat([state.self_kv[i][1], v_new], dim=2)
                state.self_kv[i] = (k_new, v_new)
                return _attend_cached(mha, h, k_new, v_new, None)  # the newest query sees every earlier key
            x = layer.sublayers(x, self_attend,
                                lambda h, i=i, layer=layer: _attend_cached(layer.cross_attention, h, *state.cross_kv[i],
                                                                           cross_allowed))
        return F.log_softmax(self.out(self.dec_norm(x))[:, -1], -1)  # (R, V)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int, *, cache: bool = True, prefix: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: y_t = argmax p(y | y_<t, x) until EOS or max_len tokens.
        prefix (B, p): output tokens forced first (no EOS/PAD), then free running (the exposure-bias probe).
        Returns tokens (B, ≤ max_len) (EOS included, PAD after it) and scores (B,) = Σ_t log p(y_t)."""
        check_decoding(max_len)
        state = self.start(src, cache)
        B = len(src)
        scores = torch.zeros(B, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        forced = prefix if prefix is not None else src.new_zeros(B, 0)
        if forced.shape[1] >= max_len:
            raise BadInput(f"decoding prefix: {forced.shape[1]} forced tokens leave none of max_len={max_len}")
        for t in range(forced.shape[1]):
            scores = scores + self.step(state).gather(1, forced[:, t:t + 1])[:, 0]
            state.prefix = torch.cat([state.prefix, forced[:, t:t + 1]], 1)
        for _ in range(max_len - forced.shape[1]):
            logp = self.step(state)  # (B, V)
            best, token = logp.max(-1)
            token = token.masked_fill(done, PAD)
            scores = scores + best.masked_fill(done, 0.0)
            state.prefix = torch.cat([state.prefix, token[:, None]], 1)
            done = done | (token == EOS)
            if done.all():
                break
        return state.prefix[:, 1:], scores

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, beam_size: int, max_len: int, *, cache: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search: keep the k prefixes of highest Σ log p; a hypothesis ends at EOS (then carries its score).
        Returns the best hypothesis per row: tokens (B, ≤ max_len), scores (B,). beam_size 1 is greedy."""
        check_decoding(max_len, beam_size)
        B, k, V = len(src), beam_size, self.tgt_vocab
        state = self.start(src.repeat_interleave(k, 0), cache)  # rows (B·k)
        scores = torch.full((B, k), float("-inf"), device=src.device)
        scores[:, 0] = 0.0  # one live hypothesis at the start
        done = torch.zeros(B, k, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logp = self.step(state).view(B, k, V)
            finished = torch.full_like(logp, float("-inf"))
            finished[..., PAD] = 0.0  # an ended hypothesis extends only by PAD, at no cost
            logp = torch.where(done[..., None], finished, logp)
            total = (scores[..., None] + logp).view(B, k * V)  # Σ log p of every extension
            scores, flat = total.topk(k, dim=-1)  # (B, k)
            beam, token = flat // V, flat % V
            rows = (torch.arange(B, device=src.device)[:, None] * k + beam).view(-1)
            state.reorder(rows)
            state.prefix = torch.cat([state.prefix, token.view(-1, 1)], 1)
            done = done.gather(1, beam) | (token == EOS)
            if done.all():
                break
        best = scores.argmax(-1)  # (B,)
        rows = torch.arange(B, device=src.device) * k + best
        return state.prefix[rows, 1:], scores.gather(1, best[:, None])[:, 0]


def check_decoding(max_len: int, beam_size: int = 1) -> None:
    if max_len < 1:
        raise BadInput(f"decoding max_len: must be >= 1 output tokens, got {max_len}")
    if beam_size < 1:
        raise BadInput(f"decoding beam_size: must be >= 1 (1 is greedy), got {beam_size}")


def seq2seq_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """fit's contract under teacher forcing: (Σ over non-pad target tokens of the (label-smoothed) cross-entropy,
    their number). batch = (src (B, m), tgt (B, n+1) = BOS y … EOS PAD…)."""
    src, tgt = batch
    logits = model(src, tgt[:, :-1])  # (B, n, V): input BOS y¹ … yⁿ
    target = tgt[:, 1:]  # y¹ … yⁿ EOS
    loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD, reduction="sum",
                           label_smoothing=getattr(model, "label_smoothing", 0.0))
    return loss, (target != PAD).sum()


def count_target_tokens(batch: tuple[torch.Tensor, torch.Tensor]) -> int:
    """fit's `count_items` for `seq2seq_loss`: non-pad target tokens (EOS included, BOS not)."""
    return int((batch[1][:, 1:] != PAD).sum())


def strip(tokens: torch.Tensor) -> list[list[int]]:
    """Decoded rows (B, n) -> token lists without BOS, EOS and PAD (cut at the first EOS)."""
    out = []
    for row in tokens.tolist():
        row = row[: row.index(EOS)] if EOS in row else row
        out.append([t for t in row if t not in (PAD, BOS)])
    return out


def load_weights(model: Seq2SeqTransformer, state_dict: dict[str, torch.Tensor]) -> None:
    """Load a checkpoint's weights, first checking that its vocabularies match the model's (BadInput, one line)."""
    for name, table, what in (("src_embed.weight", model.src_embed, "source"), ("tgt_embed.weight", model.tgt_embed,
                                                                                  "target")):
        if name in state_dict and tuple(state_dict[name].shape) != tuple(table.weight.shape):
            raise BadInput(f"checkpoint {what} vocabulary: {state_dict[name].shape[0]} tokens × width "
                           f"{state_dict[name].shape[1]}, the model has {table.weight.shape[0]} × "
                           f"{table.weight.shape[1]}; rebuild the model with the checkpoint's vocabulary")
    model.load_state_dict(state_dict)
