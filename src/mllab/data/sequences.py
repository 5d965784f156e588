"""Synthetic sequence-labelling tasks, generated from a seed, each with a known answer.

Every task returns a `Sequences`: tokens (N, n) int64, labels (N, n) int64 with `IGNORE` (-100) where a
position carries no label (cross-entropy's ignore_index), and `distance` (N,) the dependency distance of
each sequence (0 when it has none). Token 0 is reserved (BOS / boundary), so vocabularies start at 1.

- `distance_task` (a): one *query* token Q per sequence; one *value* token V_c (c ∈ 0..C−1) sits at distance
  d from it (d drawn per sequence, 1 … n − 1, on either side); the rest is noise. The query's label is c:
  only a model that sees position i ± d can beat chance 1/C.
- `position_task` (b): BOS then random noise tokens; the label of position i ≥ 1 is its quarter of the
  sequence, ⌊P·(i − 1)/(n − 1)⌋: it depends on absolute position only (chance 1/P without one).
- `local_task` (c): random tokens; the label of position i is the value of its left neighbour a_{i−1} (value 0
  before the start): purely local, distance 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mllab.core.errors import BadInput

IGNORE = -100
BOS = 0


@dataclass
class Sequences:
    tokens: torch.Tensor  # (N, n) int64
    labels: torch.Tensor  # (N, n) int64, IGNORE where unlabelled
    distance: torch.Tensor  # (N,) int64 dependency distance (0: none)
    vocab: int  # token ids lie in 0..vocab-1
    classes: int  # labels lie in 0..classes-1

    def __len__(self) -> int:
        return len(self.tokens)

    def to(self, device: torch.device | str) -> "Sequences":
        return Sequences(self.tokens.to(device), self.labels.to(device), self.distance.to(device), self.vocab,
                         self.classes)


def _check(count: int, length: int, minimum: int = 2) -> None:
    if count < 1:
        raise BadInput(f"sequence task: count must be >= 1 sequence, got {count}")
    if length < minimum:
        raise BadInput(f"sequence task: length must be >= {minimum} tokens, got {length}")


def distance_task(count: int, length: int, *, classes: int = 4, noise: int = 8, max_distance: int | None = None,
                  min_distance: int = 1, log_uniform: bool = False, seed: int = 0) -> Sequences:
    """(a) The query's label is the value token's class; the value sits at distance d ∈ [min_distance,
    max_distance] (default n − 1), drawn per sequence (uniform, or log-uniform so that short and long distances
    are equally represented per octave), before or after the query (whichever fits; both at random when both
    fit). Vocabulary: 0 unused, 1 = Q, 2..1+C = V_c, then `noise` noise tokens."""
    _check(count, length)
    max_distance = length - 1 if max_distance is None else max_distance
    if not 1 <= min_distance <= max_distance <= length - 1:
        raise BadInput(f"distance_task: need 1 <= min_distance <= max_distance <= length − 1 = {length - 1}, got "
                       f"{min_distance}..{max_distance}")
    g = torch.Generator().manual_seed(seed)
    query, first_value, first_noise = 1, 2, 2 + classes
    tokens = torch.randint(first_noise, first_noise + noise, (count, length), generator=g)
    if log_uniform:  # log d uniform on [log(min − ½), log(max + ½)], rounded
        lo, hi = torch.log(torch.tensor(min_distance - 0.5)), torch.log(torch.tensor(max_distance + 0.5))
        d = torch.exp(lo + (hi - lo) * torch.rand(count, generator=g)).round().long().clamp(min_distance, max_distance)
    else:
        d = torch.randint(min_distance, max_distance + 1, (count,), generator=g)
    i = (torch.rand(count, generator=g) * (length - d)).long()  # the earlier of the two positions
    value_first = torch.rand(count, generator=g) < 0.5
    q_pos = torch.where(value_first, i + d, i)
    v_pos = torch.where(value_first, i, i + d)
    c = torch.randint(0, classes, (count,), generator=g)
    rows = torch.arange(count)
    tokens[rows, q_pos] = query
    tokens[rows, v_pos] = first_value + c
    labels = torch.full((count, length), IGNORE)
    labels[rows, q_pos] = c
    return Sequences(tokens, labels, d, first_noise + noise, classes)


def position_task(count: int, length: int, *, classes: int = 4, noise: int = 8, seed: int = 0) -> Sequences:
    """(b) BOS (token 0) at position 0, then noise tokens 1..noise; label of position i ≥ 1 is
    ⌊classes·(i − 1)/(n − 1)⌋ (which part of the sequence it is in); BOS is unlabelled."""
    _check(count, length, minimum=classes + 1)
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 1 + noise, (count, length), generator=g)
    tokens[:, 0] = BOS
    part = (torch.arange(length - 1) * classes) // (length - 1)  # (n − 1,)
    labels = torch.cat([torch.full((1,), IGNORE), part]).expand(count, length).clone()
    return Sequences(tokens, labels, torch.zeros(count, dtype=torch.long), 1 + noise, classes)


def local_task(count: int, length: int, *, classes: int = 4, seed: int = 0) -> Sequences:
    """(c) tokens 1..classes stand for values 0..C−1; label of i is the value a_{i−1} (0 at i = 0). Distance 1."""
    _check(count, length, minimum=1)
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(0, classes, (count, length), generator=g)
    labels = torch.nn.functional.pad(values, (1, 0))[:, :-1]  # y_i = a_{i−1}, 0 before the start
    return Sequences(values + 1, labels, torch.ones(count, dtype=torch.long), classes + 1, classes)


TASKS = {"distance": distance_task, "position": position_task, "local": local_task}
