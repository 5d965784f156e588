"""Section "rl": a Q-table with the Bellman update, Monte-Carlo vs TD prediction, deep Q-learning."""

from __future__ import annotations

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed

JUDGE = "judge"  # the key of judged seeds; tuning seeds are the configs' literal `tuning_seeds`, never derived


def judged_seeds(seed: int, count: int, tuning_seeds: tuple[int, ...], key: str = JUDGE) -> list[int]:
    """The `count` seeds a run judges: `derive_seed(seed, key, i)` for i < count (seed: the run's --seed).

    Hyperparameters were tuned on `tuning_seeds`; a judged seed that is also a tuning seed would judge the claim
    on the data it was tuned on: BadInput (a 63-bit hash lands on a small tuning seed with chance ~1e-18, but the
    guarantee is checked, not assumed)."""
    seeds = [derive_seed(seed, key, i) for i in range(count)]
    shared = sorted(set(seeds) & set(tuning_seeds))
    if shared:
        raise BadInput(f"--seed: judged seeds {shared} are tuning seeds {tuple(tuning_seeds)}; choose another --seed")
    return seeds
