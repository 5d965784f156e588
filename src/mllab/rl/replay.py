"""A uniform experience-replay buffer in preallocated NumPy arrays (a ring: the oldest is overwritten)."""

from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    """Transitions (s, a, r, s', terminated); `sample` draws a batch uniformly with replacement.

    `terminated` is stored instead of `done`: an episode cut by the time limit (truncated) still
    bootstraps from s', so such transitions are stored with terminated = False.
    """

    def __init__(self, capacity: int, observation_shape: tuple[int, ...], seed: int = 0):
        self.capacity = capacity
        self.observations = np.zeros((capacity, *observation_shape), dtype=np.float32)
        self.next_observations = np.zeros((capacity, *observation_shape), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.position, self.size = 0, 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, observation: np.ndarray, action: int, reward: float, next_observation: np.ndarray,
            terminated: bool) -> None:
        i = self.position
        self.observations[i], self.actions[i], self.rewards[i] = observation, action, reward
        self.next_observations[i], self.terminated[i] = next_observation, terminated
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A batch as tensors: observations (B, *obs), actions (B,), rewards (B,), next_observations, terminated."""
        if self.size == 0:
            raise ValueError("sample from an empty replay buffer; add transitions first")
        index = self.rng.integers(self.size, size=batch_size)
        return {
            "observations": torch.from_numpy(self.observations[index]),
            "actions": torch.from_numpy(self.actions[index]),
            "rewards": torch.from_numpy(self.rewards[index]),
            "next_observations": torch.from_numpy(self.next_observations[index]),
            "terminated": torch.from_numpy(self.terminated[index]),
        }
