"""Section "rl": a Q-table with the Bellman update, Monte-Carlo vs TD prediction, deep Q-learning."""

from __future__ import annotations

from mllab.core.errors import BadInput


def judged_seeds(seed: int, count: int, offset: int, tuning_seeds: tuple[int, ...], field: str = "seed_offset"
                 ) -> list[int]:
    """The `count` seeds a run judges: offset + 100·seed + i. Hyperparameters were tuned on `tuning_seeds`;
    a judged seed that is also a tuning seed would judge the claim on the data it was tuned on: BadInput."""
    seeds = [offset + 100 * seed + i for i in range(count)]
    shared = sorted(set(seeds) & set(tuning_seeds))
    if shared:
        raise BadInput(f"--set {field} / --seed: judged seeds {shared} are tuning seeds {tuple(tuning_seeds)}; "
                       f"choose an offset or --seed whose seeds avoid them")
    return seeds
