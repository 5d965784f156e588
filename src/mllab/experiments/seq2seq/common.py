"""Glue shared by the seq2seq experiments: train a `Seq2SeqTransformer` on a `TextTask` with `fit`, decode, score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.data import TensorLoader
from mllab.data.text import PAD, TextPairs, TextTask, exact_match, score_bleu
from mllab.models.transformer import (
    Seq2SeqTransformer,
    count_target_tokens,
    seq2seq_loss,
    strip,
)
from mllab.train import fit
from mllab.train.schedules import linear_warmup, scheduler


def train_seq2seq(model: Seq2SeqTransformer, pairs: TextPairs, *, epochs: int, lr: float, batch_size: int, seed: int,
                  warmup_steps: int = 0, callbacks: Sequence[Any] = (), max_steps: int | None = None,
                  evaluate: Any = None, rank: int = 0, world_size: int = 1, on_device_counts: bool = False):
    """Adam (β = 0.9, 0.98) at peak `lr`, linear warm-up over `warmup_steps` updates (0: none) then constant;
    token-weighted loss; loader order from `seed` (any int ≥ 0, e.g. a 63-bit `derive_seed`). Returns FitState.
    Under DDP (`model` wrapped by `run.distribute`) each rank takes every world_size-th sentence of the same shuffle
    and batch_size / world_size sentences of each step's batch; fit divides by the tokens of all ranks.
    on_device_counts: count each batch's target tokens as a device tensor (`count_target_tokens_on_device`): no
    host read per step, so a GPU is not drained each step (the default int count reads one)."""
    if batch_size % world_size:
        raise BadInput(f"--set batch_size: {batch_size} does not split over {world_size} ranks; give a multiple of "
                       f"{world_size}")
    loader = TensorLoader((pairs.src, pairs.tgt), batch_size // world_size, seed=seed % 2**32,  # it multiplies seed
                          rank=rank, world_size=world_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    schedule = scheduler(optimizer, linear_warmup(warmup_steps)) if warmup_steps > 0 else None
    count = count_target_tokens_on_device if on_device_counts else count_target_tokens
    return fit(model, seq2seq_loss, loader, optimizer, epochs=epochs, count_items=count,
               scheduler=schedule, callbacks=callbacks, max_steps=max_steps, evaluate=evaluate)


def count_target_tokens_on_device(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """`count_target_tokens` as a tensor on the batch's device (fit then never reads it per step)."""
    return (batch[1][:, 1:] != PAD).sum()


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
    constant `lr`, loader order from `seed` (any int ≥ 0); masking draws from torch's global RNG, seeded here with
    `seed`."""
    from mllab.models.nat import count_nat_tokens, nat_loss

    torch.manual_seed(seed)
    loader = TensorLoader((src, tgt), batch_size, seed=seed % 2**32)  # TensorLoader multiplies its seed
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    return fit(model, nat_loss, loader, optimizer, epochs=epochs, count_items=count_nat_tokens)
