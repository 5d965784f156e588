"""Glue shared by the seq2seq experiments: train a `Seq2SeqTransformer` on a `TextTask` with `fit`, decode, score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mllab.data import TensorLoader
from mllab.data.text import TextPairs, TextTask, exact_match, score_bleu
from mllab.models.transformer import (
    Seq2SeqTransformer,
    count_target_tokens,
    seq2seq_loss,
    strip,
)
from mllab.train import fit
from mllab.train.schedules import linear_warmup, scheduler


def train_seq2seq(model: Seq2SeqTransformer, pairs: TextPairs, *, epochs: int, lr: float, batch_size: int, seed: int,
                  warmup_steps: int = 0, callbacks: Sequence[Any] = (), max_steps: int | None = None, evaluate: Any = None):
    """Adam (β = 0.9, 0.98) at peak `lr`, linear warm-up over `warmup_steps` updates (0: none) then constant;
    token-weighted loss; loader order from `seed`. Returns fit's FitState."""
    loader = TensorLoader((pairs.src, pairs.tgt), batch_size, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    schedule = scheduler(optimizer, linear_warmup(warmup_steps)) if warmup_steps > 0 else None
    return fit(model, seq2seq_loss, loader, optimizer, epochs=epochs, count_items=count_target_tokens,
               scheduler=schedule, callbacks=callbacks, max_steps=max_steps, evaluate=evaluate)


@torch.no_grad()
def translate(model: Seq2SeqTransformer, task: TextTask, pairs: TextPairs, max_len: int, beam_size: int = 1
              ) -> list[list[str]]:
    """Decoded token strings for every row of `pairs` (greedy when beam_size is 1), KV cache on."""
    model.eval()
    if beam_size == 1:
        tokens, _ = model.greedy(pairs.src, max_len)
    else:
        tokens, _ = model.beam_search(pairs.src, beam_size, max_len)
    return [task.tgt_vocab.decode(row) for row in strip(tokens)]


def score(hypotheses: list[list[str]], pairs: TextPairs) -> tuple[float, float]:
    """(exact match fraction, corpus BLEU 0–100) against the references."""
    return float(exact_match(hypotheses, pairs.references).mean()), score_bleu(hypotheses, pairs.references)


@torch.no_grad()
def token_loss(model: Seq2SeqTransformer, pairs: TextPairs) -> float:
    """Teacher-forced cross-entropy per non-pad target token (nats), label smoothing off; leaves the model's mode."""
    mode = model.training
    model.eval()
    smoothing, model.label_smoothing = model.label_smoothing, 0.0
    loss, n = seq2seq_loss(model, (pairs.src, pairs.tgt))
    model.label_smoothing = smoothing
    model.train(mode)
    return float(loss) / max(int(n), 1)


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def train_nat(model, src: torch.Tensor, tgt: torch.Tensor, *, epochs: int, lr: float, batch_size: int, seed: int):
    """Train a `NATransformer` with `nat_loss` (token-weighted) on AT-format rows `tgt`, Adam (β = 0.9, 0.98) at a
    constant `lr`, loader order from `seed`; masking draws from torch's global RNG, seeded here with `seed`."""
    from mllab.models.nat import count_nat_tokens, nat_loss

    torch.manual_seed(seed)
    loader = TensorLoader((src, tgt), batch_size, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    return fit(model, nat_loss, loader, optimizer, epochs=epochs, count_items=count_nat_tokens)
