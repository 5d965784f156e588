"""Deep Q-learning (Mnih et al. 2015) in the CleanRL style: replay buffer, target network (hard copy or
Polyak average), linear ε schedule, optional Double DQN, Huber or MSE loss, gradient-norm clipping, `num_envs`
environments stepped side by side (gymnasium.vector); greedy evaluation kept apart from training (`evaluate`),
and the best evaluated network kept (SB3's EvalCallback "best model").

Not `mllab.train.fit`: RL interleaves acting in the environment with gradient steps on freshly sampled
replay batches, which is not a pass over a fixed dataset.
"""

from __future__ import annotations

import copy
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mllab.core.seeding import derive_seed
from mllab.rl.replay import ReplayBuffer
from mllab.train import helpers


@dataclass
class DQNConfig:
    """Hyperparameters of one DQN run (defaults: the RL Zoo's tuned CartPole-v1 setting, one environment)."""

    env_id: str = "CartPole-v1"
    """gymnasium environment with a Box observation and a Discrete action space"""
    total_timesteps: int = 50_000
    """environment steps at most (transitions, summed over the num_envs environments)"""
    num_envs: int = 1
    """environments stepped side by side (gymnasium.vector), acting with one batched forward pass"""
    learning_rate: float = 2.3e-3
    """Adam learning rate"""
    buffer_size: int = 100_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor γ"""
    target_network_frequency: int = 10
    """update the target network every this many environment steps"""
    tau: float = 1.0
    """target update θ' ← τ θ + (1 − τ) θ' (1: a hard copy; < 1: Polyak averaging)"""
    batch_size: int = 64
    """transitions per gradient step"""
    start_e: float = 1.0
    """ε at the start"""
    end_e: float = 0.04
    """ε after the exploration phase"""
    exploration_fraction: float = 0.16
    """fraction of total_timesteps over which ε falls linearly from start_e to end_e"""
    learning_starts: int = 1000
    """environment steps of pure exploration before learning"""
    train_frequency: int = 256
    """environment steps between training phases"""
    gradient_steps: int = 128
    """gradient steps per training phase"""
    width: int = 256
    """units in each hidden layer of the Q-network"""
    depth: int = 2
    """hidden layers of the Q-network"""
    double_dqn: bool = False
    """pick a' with the online network and value it with the target network (van Hasselt et al. 2016)"""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: huber (smooth L1) or mse"""
    max_grad_norm: float = 10.0
    """clip the gradient's global norm to this (0: no clipping)"""
    evaluation_frequency: int = 5000
    """environment steps between greedy evaluations (0: none)"""
    evaluation_episodes: int = 100
    """episodes per greedy evaluation"""
    target_return: float = 475.0
    """a greedy evaluation whose mean return reaches this counts as solved (`DQNResult.reached_step`)"""
    stop_return: float = 475.0
    """stop training once a greedy evaluation's mean return reaches this (inf: use the whole budget)"""


LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


def q_network(observation_size: int, n_actions: int, config: DQNConfig) -> nn.Sequential:
    """Q(s, ·): observation (B, observation_size) -> action values (B, n_actions), `depth` ReLU layers of `width`.

    The same layers, initialisation and parameter order as `models.MLP(observation_size, n_actions, width=...,
    depth=...)` (equal weights for equal seeds), as a flat nn.Sequential: MLP's per-layer norm and dropout slots
    (identities here) cost ~30 % of a forward pass at this size, and DQN runs ~10⁴ small ones."""
    layers, size = [], observation_size
    for _ in range(config.depth):
        layers += [nn.Linear(size, config.width), nn.ReLU()]
        size = config.width
    return nn.Sequential(*layers, nn.Linear(size, n_actions))


def make_envs(env_id: str, count: int) -> gym.vector.VectorEnv:
    """`count` copies of `env_id` stepped as one: gymnasium's own vectorised implementation where the environment
    has one (CartPole: NumPy over all copies at once), else a SyncVectorEnv. Both reset a finished copy on its
    *next* step (gymnasium's NEXT_STEP autoreset), which then yields no transition."""
    mode = "vector_entry_point" if gym.spec(env_id).vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=count, vectorization_mode=mode)


def bellman_target(rewards: torch.Tensor, terminated: torch.Tensor, gamma: float, next_target_values: torch.Tensor,
                   next_online_values: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) TD targets from Q'(s', ·) (B, A) and, for Double DQN, the online network's Q(s', ·) (B, A)."""
    if next_online_values is None:
        next_value = next_target_values.max(1).values  # max_a' Q'(s', a')
    else:
        next_action = next_online_values.argmax(1, keepdim=True)  # a' = argmax_a Q(s', a): (B, 1)
        next_value = next_target_values.gather(1, next_action).squeeze(1)  # Q'(s', a')
    return rewards + gamma * (1 - terminated) * next_value  # y = r + γ (1 − terminated) · value of s'


def td_target(target_network: torch.nn.Module, rewards: torch.Tensor, next_observations: torch.Tensor,
              terminated: torch.Tensor, gamma: float, q_network: torch.nn.Module | None = None) -> torch.Tensor:
    """(B,) targets. Plain DQN: y = r + γ max_a' Q'(s', a'). With `q_network` given (Double DQN, van Hasselt
    et al. 2016): y = r + γ Q'(s', argmax_a Q(s', a)), the online network picks, the target network values."""
    with torch.no_grad():
        online = None if q_network is None else q_network(next_observations)  # (B, A)
        return bellman_target(rewards, terminated, gamma, target_network(next_observations), online)


def gradient_phase(network: torch.nn.Module, target_network: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   buffer: ReplayBuffer, loss_fn, config: DQNConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """`config.gradient_steps` minibatch updates of the online network; returns the phase's mean TD loss and
    mean Q(s, a) over its minibatches (0-d tensors, read by the caller: no host sync per step).

    Q' does not change during the phase, so all the phase's minibatches are drawn at once and Q'(s', ·) comes
    from one forward pass (G·B rows) instead of G small ones; the updates themselves stay sequential. Double
    DQN's a' = argmax_a Q(s', a) uses the online network as it is at each step, so that pass stays per step.
    """
    steps, size = config.gradient_steps, config.batch_size
    phase = buffer.sample(steps * size)  # (G·B, ...)
    parameters = list(network.parameters())
    with torch.no_grad():
        next_target_values = target_network(phase["next_observations"])  # Q'(s', ·): (G·B, A)
        if not config.double_dqn:
            targets = bellman_target(phase["rewards"], phase["terminated"], config.gamma, next_target_values)
    loss_sum, q_sum = torch.zeros(()), torch.zeros(())
    for g in range(steps):
        rows = slice(g * size, (g + 1) * size)
        observations, actions = phase["observations"][rows], phase["actions"][rows]  # (B, obs), (B,)
        if config.double_dqn:
            with torch.no_grad():
                y = bellman_target(phase["rewards"][rows], phase["terminated"][rows], config.gamma,
                                   next_target_values[rows], network(phase["next_observations"][rows]))  # (B,)
        else:
            y = targets[rows]  # (B,)
        q_value = network(observations).gather(1, actions[:, None]).squeeze(1)  # Q(s, a): (B,)
        loss = loss_fn(q_value, y)  # L = ℓ(y − Q(s, a)), mean over the batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm, foreach=True)
        optimizer.step()
        loss_sum += loss.detach()
        q_sum += q_value.detach().mean()
    return loss_sum / steps, q_sum / steps


@torch.no_grad()
def update_target(target_network: torch.nn.Module, network: torch.nn.Module, tau: float) -> None:
    """θ' ← τ θ + (1 − τ) θ' over all parameters and buffers (τ = 1: copy)."""
    target, online = list(target_network.state_dict().values()), list(network.state_dict().values())
    if tau >= 1.0:
        torch._foreach_copy_(target, online)
    else:
        torch._foreach_lerp_(target, online, tau)  # θ' + τ (θ − θ')


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    """ε at step t: linear from start_e to end_e over `duration` steps, then end_e (train.helpers.linear_schedule)."""
    return helpers.linear_schedule(start_e, end_e, duration)(t)


@torch.no_grad()
def evaluate(network: torch.nn.Module, env_id: str, episodes: int = 100, seed: int = 0) -> np.ndarray:
    """Greedy returns (episodes,): the episodes run side by side in `make_envs(env_id, episodes)` reset with `seed`,
    one batched forward per step; each episode's return counts up to its first termination or truncation."""
    envs = make_envs(env_id, episodes)
    observations, _ = envs.reset(seed=seed)  # (episodes, obs)
    returns = np.zeros(episodes)
    running = np.ones(episodes, dtype=bool)
    while running.any():
        actions = network(torch.from_numpy(observations)).argmax(1).numpy()  # (episodes,)
        observations, rewards, terminated, truncated, _ = envs.step(actions)
        returns += np.where(running, rewards, 0.0)  # a finished episode's copy restarts: not counted
        running &= ~(terminated | truncated)
    envs.close()
    return returns


@dataclass
class DQNResult:
    network: torch.nn.Module  # the judged network: the best evaluated one (the last one if no evaluation ran)
    episode_returns: list[tuple[int, float]]  # (global step at the episode's end, return) of training episodes
    evaluations: list[dict] = field(default_factory=list)  # step, mean, std, train_seconds, train_cpu_seconds
    updates: list[dict] = field(default_factory=list)  # per gradient phase: step, td_loss, q_values (mean Q(s, a))
    reached_step: int | None = None  # first step whose greedy evaluation mean reached target_return
    reached_seconds: float | None = None  # training wall time (evaluations excluded) up to then
    reached_cpu_seconds: float | None = None  # the same in CPU time of this process (robust to a busy machine)
    best_step: int | None = None  # the step of the evaluation whose network is `network`
    best_mean: float | None = None  # that evaluation's mean return
    steps: int = 0  # environment steps taken (transitions)
    train_seconds: float = 0.0  # wall time of the whole run, evaluations excluded
    train_cpu_seconds: float = 0.0  # CPU time of the whole run, evaluations excluded
    gradient_cpu_seconds: float = 0.0  # CPU time in gradient phases and target updates (the rest: acting)
    evaluation_seconds: float = 0.0  # wall time spent in evaluations
    evaluation_cpu_seconds: float = 0.0


def train(config: DQNConfig, seed: int = 0, progress: bool | None = None) -> DQNResult:
    """One seeded DQN run; stops early when a greedy evaluation reaches `config.stop_return`.

    Counters are environment steps (transitions over all `num_envs` copies): ε follows them, and a training
    phase / target update / evaluation happens each time they pass a multiple of train_frequency /
    target_network_frequency / evaluation_frequency. The k-th evaluation's episodes are reset with
    `derive_seed(seed, "evaluate", k)`; the network returned is the best evaluated one."""
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {config.loss!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = config.num_envs
    envs = make_envs(config.env_id, n)
    n_actions = int(envs.single_action_space.n)
    observation_shape = envs.single_observation_space.shape
    network = q_network(int(np.prod(observation_shape)), n_actions, config)
    target_network = copy.deepcopy(network)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, fused=True)  # one kernel per step
    epsilon_at = helpers.linear_schedule(config.start_e, config.end_e,
                                         int(config.exploration_fraction * config.total_timesteps))
    buffer = ReplayBuffer(config.buffer_size, observation_shape, seed=seed)
    loss_fn = LOSSES[config.loss]
    result = DQNResult(network, [])
    best_state, recent = None, deque(maxlen=20)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=config.total_timesteps, desc=f"dqn seed {seed}", disable=not show, leave=False)

    def due(frequency: int, before: int, after: int) -> int:
        """How many multiples of `frequency` the step counter passed going from `before` to `after`."""
        return after // frequency - before // frequency if frequency > 0 else 0

    observations, _ = envs.reset(seed=seed)  # (n, obs)
    resetting = np.zeros(n, dtype=bool)  # these copies ended last step: this step resets them (no transition)
    episode_returns = np.zeros(n)
    step, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while step < config.total_timesteps:
        epsilon = epsilon_at(step)
        with torch.no_grad():
            actions = network(torch.from_numpy(observations)).argmax(1).numpy()  # greedy, (n,)
        explore = rng.random(n) < epsilon
        actions = np.where(explore, rng.integers(n_actions, size=n), actions)
        next_observations, rewards, terminated, truncated, _ = envs.step(actions)
        real = ~resetting  # copies whose step was a transition
        real[np.flatnonzero(real)[config.total_timesteps - step:]] = False  # the last step: none past the budget
        # Store the true s' and `terminated` only: a time-limit truncation still bootstraps from s'.
        buffer.add_batch(observations[real], actions[real], rewards[real], next_observations[real], terminated[real])
        episode_returns += np.where(real, rewards, 0.0)
        before, step = step, step + int(real.sum())
        for i in np.flatnonzero((terminated | truncated) & real):
            result.episode_returns.append((step, float(episode_returns[i])))
            recent.append(episode_returns[i])
            episode_returns[i] = 0.0
        resetting = terminated | truncated
        observations = next_observations
        bar.update(step - before)

        if step > config.learning_starts:
            phase_start = time.process_time()
            for _ in range(due(config.train_frequency, max(before, config.learning_starts), step)):
                td_loss, q_values = gradient_phase(network, target_network, optimizer, buffer, loss_fn, config)
                result.updates.append({"step": step, "td_loss": float(td_loss), "q_values": float(q_values)})
            if due(config.target_network_frequency, before, step):
                update_target(target_network, network, config.tau)
            result.gradient_cpu_seconds += time.process_time() - phase_start

        if due(config.evaluation_frequency, before, step):
            bar.set_postfix(recent_return=f"{np.mean(recent) if recent else 0:.1f}", epsilon=f"{epsilon:.2f}")
            train_seconds = time.perf_counter() - start - result.evaluation_seconds
            train_cpu_seconds = time.process_time() - cpu_start - result.evaluation_cpu_seconds
            evaluation_start, evaluation_cpu_start = time.perf_counter(), time.process_time()
            returns = evaluate(network, config.env_id, config.evaluation_episodes,
                               seed=derive_seed(seed, "evaluate", len(result.evaluations)))
            mean = float(returns.mean())
            if result.best_mean is None or mean > result.best_mean:  # keep the best greedy policy
                best_state = {k: v.clone() for k, v in network.state_dict().items()}
                result.best_step, result.best_mean = step, mean
            result.evaluation_seconds += time.perf_counter() - evaluation_start
            result.evaluation_cpu_seconds += time.process_time() - evaluation_cpu_start
            result.evaluations.append({"step": step, "mean": mean, "std": float(returns.std()),
                                       "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds})
            if mean >= config.target_return and result.reached_step is None:
                result.reached_step, result.reached_seconds = step, train_seconds
                result.reached_cpu_seconds = train_cpu_seconds
            if mean >= config.stop_return:
                break
    bar.close()
    envs.close()
    result.steps = step
    result.train_seconds = time.perf_counter() - start - result.evaluation_seconds
    result.train_cpu_seconds = time.process_time() - cpu_start - result.evaluation_cpu_seconds
    if best_state is not None:  # judge the best evaluated network, not the last one
        result.network = copy.deepcopy(network)
        result.network.load_state_dict(best_state)
    return result
