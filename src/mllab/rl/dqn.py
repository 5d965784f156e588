"""Deep Q-learning (Mnih et al. 2015) in the CleanRL style: replay buffer, target network, linear ε
schedule, optional Double DQN, Huber or MSE loss, gradient-norm clipping; greedy evaluation kept apart
from training (`evaluate`).

Not `mllab.train.fit`: RL interleaves acting in the environment with gradient steps on freshly sampled
replay batches, which is not a pass over a fixed dataset.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mllab.models.mlp import MLP
from mllab.rl.replay import ReplayBuffer
from mllab.train import helpers


@dataclass
class DQNConfig:
    """Hyperparameters of one DQN run (defaults: a tuned CartPole-v1 setting)."""

    env_id: str = "CartPole-v1"
    """gymnasium environment with a Box observation and a Discrete action space"""
    total_timesteps: int = 50_000
    """environment steps at most"""
    learning_rate: float = 2.3e-3
    """Adam learning rate"""
    buffer_size: int = 100_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor γ"""
    target_network_frequency: int = 10
    """copy the Q-network into the target network every this many environment steps"""
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
    """stop once a greedy evaluation's mean return reaches this (inf: never stop early)"""


LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


def q_network(observation_size: int, n_actions: int, config: DQNConfig) -> torch.nn.Module:
    """Q(s, ·): observation (B, observation_size) -> action values (B, n_actions)."""
    return MLP(observation_size, n_actions, width=config.width, depth=config.depth)


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
            torch.nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
        optimizer.step()
        loss_sum += loss.detach()
        q_sum += q_value.detach().mean()
    return loss_sum / steps, q_sum / steps


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    """ε at step t: linear from start_e to end_e over `duration` steps, then end_e (train.helpers.linear_schedule)."""
    return helpers.linear_schedule(start_e, end_e, duration)(t)


def evaluate(network: torch.nn.Module, env_id: str, episodes: int = 100, seed: int = 0) -> np.ndarray:
    """Greedy returns (episodes,): all episodes run side by side, one batched forward per step.

    Uses gymnasium's own environment objects (unwrapped) and applies their time limit ourselves.
    """
    made = [gym.make(env_id) for _ in range(episodes)]
    limit = made[0].spec.max_episode_steps or 10**9
    envs = [env.unwrapped for env in made]
    observations = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    returns = np.zeros(episodes)
    active = np.arange(episodes)
    for _ in range(limit):
        with torch.no_grad():
            actions = network(torch.from_numpy(observations[active])).argmax(1).numpy()  # (n_active,)
        still = []
        for i, action in zip(active, actions):
            observation, reward, terminated, _, _ = envs[i].step(int(action))
            observations[i] = observation
            returns[i] += reward
            if not terminated:
                still.append(i)
        active = np.array(still, dtype=np.int64)
        if active.size == 0:
            break
    for env in made:
        env.close()
    return returns


@dataclass
class DQNResult:
    network: torch.nn.Module
    episode_returns: list[tuple[int, float]]  # (global step at the episode's end, return) of training episodes
    evaluations: list[dict] = field(default_factory=list)  # step, mean, std, train_seconds
    updates: list[dict] = field(default_factory=list)  # per gradient phase: step, td_loss, q_values (mean Q(s, a))
    reached_step: int | None = None  # first step whose greedy evaluation mean reached target_return
    reached_seconds: float | None = None  # training wall time (evaluations excluded) up to then
    reached_cpu_seconds: float | None = None  # the same in CPU time of this process (robust to a busy machine)
    train_seconds: float = 0.0  # wall time of the whole run, evaluations excluded
    train_cpu_seconds: float = 0.0  # CPU time of the whole run, evaluations excluded
    evaluation_seconds: float = 0.0  # wall time spent in evaluations
    evaluation_cpu_seconds: float = 0.0


def train(config: DQNConfig, seed: int = 0, progress: bool | None = None) -> DQNResult:
    """One seeded DQN run; stops early when a greedy evaluation reaches `config.target_return`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make(config.env_id)
    env.action_space.seed(seed)
    n_actions = env.action_space.n
    observation_size = int(np.prod(env.observation_space.shape))
    network = q_network(observation_size, n_actions, config)
    target_network = q_network(observation_size, n_actions, config)
    target_network.load_state_dict(network.state_dict())
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, fused=True)  # one kernel per step
    buffer = ReplayBuffer(config.buffer_size, env.observation_space.shape, seed=seed)
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {config.loss!r}")
    loss_fn = LOSSES[config.loss]
    result = DQNResult(network, [])
    recent = deque(maxlen=20)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(config.total_timesteps), desc=f"dqn seed {seed}", disable=not show, leave=False)
    observation, _ = env.reset(seed=seed)
    episode_return, start, cpu_start = 0.0, time.perf_counter(), time.process_time()
    for global_step in bar:
        epsilon = linear_schedule(config.start_e, config.end_e,
                                  int(config.exploration_fraction * config.total_timesteps), global_step)
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(network(torch.as_tensor(observation, dtype=torch.float32)[None]).argmax(1))
        next_observation, reward, terminated, truncated, _ = env.step(action)
        # Store the true s' and `terminated` only: a time-limit truncation still bootstraps from s'.
        buffer.add(observation, action, reward, next_observation, terminated)
        episode_return += reward
        observation = next_observation
        if terminated or truncated:
            result.episode_returns.append((global_step, episode_return))
            recent.append(episode_return)
            bar.set_postfix(recent_return=f"{np.mean(recent):.1f}", epsilon=f"{epsilon:.2f}")
            observation, _ = env.reset()
            episode_return = 0.0

        if global_step > config.learning_starts:
            if global_step % config.train_frequency == 0:
                td_loss, q_values = gradient_phase(network, target_network, optimizer, buffer, loss_fn, config)
                result.updates.append({"step": global_step, "td_loss": float(td_loss), "q_values": float(q_values)})
            if global_step % config.target_network_frequency == 0:
                target_network.load_state_dict(network.state_dict())

        if config.evaluation_frequency and (global_step + 1) % config.evaluation_frequency == 0:
            train_seconds = time.perf_counter() - start - result.evaluation_seconds
            train_cpu_seconds = time.process_time() - cpu_start - result.evaluation_cpu_seconds
            evaluation_start, evaluation_cpu_start = time.perf_counter(), time.process_time()
            returns = evaluate(network, config.env_id, config.evaluation_episodes, seed=10**6 * (seed + 1) + global_step)
            result.evaluation_seconds += time.perf_counter() - evaluation_start
            result.evaluation_cpu_seconds += time.process_time() - evaluation_cpu_start
            result.evaluations.append({"step": global_step + 1, "mean": float(returns.mean()),
                                       "std": float(returns.std()), "train_seconds": train_seconds,
                                       "train_cpu_seconds": train_cpu_seconds})
            if returns.mean() >= config.target_return:
                result.reached_step, result.reached_seconds = global_step + 1, train_seconds
                result.reached_cpu_seconds = train_cpu_seconds
                break
    bar.close()
    env.close()
    result.train_seconds = time.perf_counter() - start - result.evaluation_seconds
    result.train_cpu_seconds = time.process_time() - cpu_start - result.evaluation_cpu_seconds
    return result
