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

    def add_batch(self, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                  next_observations: np.ndarray, terminated: np.ndarray) -> None:
        """n transitions at once, in order (the same as n calls of `add`): observations (n, *obs), actions (n,),
        rewards (n,), next_observations (n, *obs), terminated (n,)."""
        n = len(actions)
        if n > self.capacity:  # only the newest `capacity` survive, as with n calls of `add`
            skip = n - self.capacity
            self.position, self.size = (self.position + skip) % self.capacity, min(self.size + skip, self.capacity)
            observations, actions, rewards = observations[skip:], actions[skip:], rewards[skip:]
            next_observations, terminated = next_observations[skip:], terminated[skip:]
            n = self.capacity
        index = (self.position + np.arange(n)) % self.capacity  # ring positions, (n,)
        self.observations[index], self.actions[index], self.rewards[index] = observations, actions, rewards
        self.next_observations[index], self.terminated[index] = next_observations, terminated
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

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
