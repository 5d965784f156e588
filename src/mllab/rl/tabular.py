"""Tabular control on gymnasium's toy-text environments.

An environment's transition table (`env.unwrapped.P[s][a] = [(p, s', r, terminated), ...]`) becomes
dense arrays (`TabularModel`). From them: value iteration (the optimum), exact evaluation of a policy
under the environment's time limit, and a batched copy of the environment that steps many episodes
at once in NumPy, so that Q-learning and SARSA run thousands of episodes in seconds.

Notation (Sutton & Barto): S states, A actions, Q (R, S, A) holds R independent runs' action values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mllab.train import helpers


@dataclass
class TabularModel:
    """Dense dynamics of a finite MDP. K = the most outcomes any (s, a) has (padded with p = 0)."""

    probability: np.ndarray  # (S, A, K) p(s' | s, a) of each outcome
    next_state: np.ndarray  # (S, A, K) int
    reward: np.ndarray  # (S, A, K)
    terminated: np.ndarray  # (S, A, K) bool: the outcome ends the episode
    initial: np.ndarray  # (S,) start-state distribution
    horizon: int | None  # the time limit (steps), None for none

    @property
    def n_states(self) -> int:
        return self.probability.shape[0]

    @property
    def n_actions(self) -> int:
        return self.probability.shape[1]


def transition_model(env: gym.Env) -> TabularModel:
    """Read `env.unwrapped.P` and the time limit of `env.spec` into a `TabularModel`."""
    table = env.unwrapped.P
    n_states, n_actions = env.observation_space.n, env.action_space.n
    k = max(len(table[s][a]) for s in range(n_states) for a in range(n_actions))
    shape = (n_states, n_actions, k)
    probability, reward = np.zeros(shape), np.zeros(shape)
    next_state, terminated = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            for i, (p, s2, r, done) in enumerate(table[s][a]):
                probability[s, a, i], next_state[s, a, i], reward[s, a, i], terminated[s, a, i] = p, s2, r, done
    initial = np.asarray(env.unwrapped.initial_state_distrib, dtype=float)
    horizon = env.spec.max_episode_steps if env.spec is not None else None
    return TabularModel(probability, next_state, reward, terminated, initial / initial.sum(), horizon)


def backup(model: TabularModel, values: np.ndarray, gamma: float) -> np.ndarray:
    """Q(s, a) = Σ_s' p(s'|s, a) [r + γ (1 − terminated) V(s')]; values (S,) -> Q (S, A)."""
    continuation = gamma * ~model.terminated * values[model.next_state]  # (S, A, K)
    return (model.probability * (model.reward + continuation)).sum(-1)


def value_iteration(model: TabularModel, gamma: float = 1.0, horizon: int | None = None,
                    tolerance: float = 1e-10, max_sweeps: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values V* (S,) and Q* (S, A).

    horizon given: exactly `horizon` sweeps of V_{k+1}(s) = max_a Q_k(s, a) from V_0 = 0, the optimum of
    the time-limited task (what the environment scores). Otherwise sweep until the largest change is
    below `tolerance` (needs γ < 1 or a proper policy).
    """
    values = np.zeros(model.n_states)
    for sweep in range(horizon if horizon is not None else max_sweeps):
        q = backup(model, values, gamma)
        new_values = q.max(1)  # V(s) = max_a Σ p [r + γ V(s')]
        change = np.abs(new_values - values).max()
        values = new_values
        if horizon is None and change < tolerance:
            break
    return values, backup(model, values, gamma)


def policy_return(model: TabularModel, policy: np.ndarray, gamma: float = 1.0, horizon: int | None = None) -> float:
    """Exact expected return of the deterministic `policy` (S,) from the start distribution, within `horizon`
    steps (default: the model's time limit)."""
    horizon = horizon if horizon is not None else model.horizon
    values = np.zeros(model.n_states)
    rows = np.arange(model.n_states)
    for _ in range(horizon):
        values = backup(model, values, gamma)[rows, policy]  # V_{k+1}(s) = Q_k(s, π(s))
    return float(model.initial @ values)


def greedy(q: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """argmax_a Q(..., a), ties broken at random when `rng` is given (else the first)."""
    if rng is None:
        return q.argmax(-1)
    best = q == q.max(-1, keepdims=True)
    return (best * rng.random(q.shape)).argmax(-1)


def epsilon_greedy(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """q (..., A) -> actions (...): random with probability ε, else greedy (random tie-breaking)."""
    actions = greedy(q, rng)
    explore = rng.random(actions.shape) < epsilon
    return np.where(explore, rng.integers(q.shape[-1], size=actions.shape), actions)


def _add_mean(q: np.ndarray, index: tuple[np.ndarray, ...], increments: np.ndarray) -> None:
    """q[index] += the mean of the increments that share an entry (a batch may revisit one (s, a))."""
    flat = np.ravel_multi_index(index, q.shape)
    total = np.bincount(flat, weights=increments, minlength=q.size)
    count = np.bincount(flat, minlength=q.size)
    q.reshape(-1)[:] += np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def q_learning_update(q: np.ndarray, run: np.ndarray, state: np.ndarray, action: np.ndarray, reward: np.ndarray,
                      next_state: np.ndarray, terminated: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """Q (R, S, A) in place; one transition per entry of the (N,) arrays. Returns the TD errors (N,)."""
    td_target = reward + gamma * (1 - terminated) * q[run, next_state].max(-1)  # r + γ max_a' Q(s', a')
    td_error = td_target - q[run, state, action]
    _add_mean(q, (run, state, action), alpha * td_error)  # Q(s,a) ← Q(s,a) + α[target − Q(s,a)]
    return td_error


def sarsa_update(q: np.ndarray, run: np.ndarray, state: np.ndarray, action: np.ndarray, reward: np.ndarray,
                 next_state: np.ndarray, next_action: np.ndarray, terminated: np.ndarray, alpha: float,
                 gamma: float) -> np.ndarray:
    """Like `q_learning_update` but bootstraps on the action actually taken next (on-policy)."""
    td_target = reward + gamma * (1 - terminated) * q[run, next_state, next_action]  # r + γ Q(s', a')
    td_error = td_target - q[run, state, action]
    _add_mean(q, (run, state, action), alpha * td_error)
    return td_error


class BatchedEnv:
    """R runs × E environments of one `TabularModel`, stepped together; finished episodes restart."""

    def __init__(self, model: TabularModel, runs: int, envs_per_run: int, rng: np.random.Generator):
        self.model, self.rng = model, rng
        self.run = np.repeat(np.arange(runs), envs_per_run)  # (N,) which run each environment feeds
        self.state = self._starts(self.run.size)
        self.elapsed = np.zeros(self.run.size, dtype=np.int64)
        self.episode_return = np.zeros(self.run.size)

    def _starts(self, n: int) -> np.ndarray:
        return self.rng.choice(self.model.n_states, size=n, p=self.model.initial)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(next_state, reward, terminated, truncated), each (N,). Afterwards `self.state` holds the next
        states with finished episodes already restarted; `self.finished_returns` their returns."""
        m, s = self.model, self.state
        cumulative = m.probability[s, action].cumsum(-1)  # (N, K)
        outcome = (self.rng.random((s.size, 1)) > cumulative).sum(-1).clip(max=cumulative.shape[1] - 1)
        next_state = m.next_state[s, action, outcome]
        reward = m.reward[s, action, outcome]
        terminated = m.terminated[s, action, outcome]
        self.elapsed += 1
        truncated = ~terminated & (self.elapsed >= m.horizon) if m.horizon else np.zeros_like(terminated)
        self.episode_return += reward
        done = terminated | truncated
        self.finished_returns = [(int(r), float(g)) for r, g in zip(self.run[done], self.episode_return[done])]
        self.state = np.where(done, 0, next_state)
        self.state[done] = self._starts(int(done.sum()))
        self.elapsed[done], self.episode_return[done] = 0, 0.0
        return next_state, reward, terminated, truncated


linear_schedule = helpers.linear_schedule  # progress in [0, 1] -> start ... end over the first `fraction`, then end


@dataclass
class TabularResult:
    q: np.ndarray  # (R, S, A) learned action values
    episode_returns: list[list[float]]  # per run, the return of each training episode (ε-greedy)


def train(model: TabularModel, algorithm: str, *, runs: int = 1, envs_per_run: int = 1, steps: int | None = None,
          episodes: int | None = None, alpha: Callable[[float], float] | float = 0.1,
          epsilon: Callable[[float], float] | float = 0.1, gamma: float = 0.99, initial_value: float = 0.0,
          seed: int = 0) -> TabularResult:
    """Q-learning ("q-learning") or SARSA ("sarsa") with ε-greedy behaviour.

    R independent runs (own Q table each) step E environments each in lockstep; a run with E > 1 averages
    the updates that land on one (s, a) in the same step. Stops after `steps` batched steps, or when every
    run has finished `episodes` episodes (then later episodes are not learned from). alpha / epsilon are
    constants or functions of progress in [0, 1].
    """
    if algorithm not in ("q-learning", "sarsa"):
        raise ValueError(f"algorithm must be 'q-learning' or 'sarsa', got {algorithm!r}")
    if (steps is None) == (episodes is None):
        raise ValueError("give exactly one of steps and episodes")
    alpha_at = alpha if callable(alpha) else (lambda progress: alpha)
    epsilon_at = epsilon if callable(epsilon) else (lambda progress: epsilon)
    rng = np.random.default_rng(seed)
    q = np.full((runs, model.n_states, model.n_actions), float(initial_value))
    env = BatchedEnv(model, runs, envs_per_run, rng)
    returns: list[list[float]] = [[] for _ in range(runs)]
    active = np.ones(env.run.size, dtype=bool)  # environments of runs that still learn
    action = epsilon_greedy(q[env.run, env.state], epsilon_at(0.0), rng)
    step = 0
    while active.any() and (steps is None or step < steps):
        progress = step / steps if steps else min(len(r) for r in returns) / episodes
        state = env.state
        next_state, reward, terminated, truncated = env.step(action)
        next_action = epsilon_greedy(q[env.run, next_state], epsilon_at(progress), rng)
        learn = (env.run, state, action, reward, next_state)
        i = np.flatnonzero(active)
        if algorithm == "q-learning":
            q_learning_update(q, *(x[i] for x in learn), terminated[i], alpha_at(progress), gamma)
        else:
            sarsa_update(q, *(x[i] for x in learn), next_action[i], terminated[i], alpha_at(progress), gamma)
        for run, episode_return in env.finished_returns:
            returns[run].append(episode_return)
        if episodes is not None:
            active = np.array([len(returns[r]) < episodes for r in range(runs)])[env.run]
        # A restarted environment picks its first action in its new start state.
        restarted = terminated | truncated
        next_action[restarted] = epsilon_greedy(q[env.run[restarted], env.state[restarted]], epsilon_at(progress), rng)
        action = next_action
        step += 1
    if episodes is not None:
        returns = [r[:episodes] for r in returns]
    return TabularResult(q, returns)


def evaluate_greedy(env_id: str, q: np.ndarray, episodes: int = 1000, seed: int = 0) -> np.ndarray:
    """Returns (episodes,) of the greedy policy argmax_a Q(s, a) (q (S, A)) in the real gymnasium environment."""
    env = gym.make(env_id)
    policy = q.argmax(-1)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(policy[state]))
            returns[episode] += reward
            done = terminated or truncated
    env.close()
    return returns


# ---- the discounted MDP: exact policy evaluation --------------------------------------------------------

def policy_matrices(model: TabularModel, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_π (S, S) = p(s' | s, π(s)) over non-terminating outcomes and r_π (S,) = E[r | s, π(s)].

    A terminating outcome contributes its reward and no continuation (its row of P_π sums to < 1)."""
    rows = np.arange(model.n_states)
    probability = model.probability[rows, policy]  # (S, K)
    continuing = probability * ~model.terminated[rows, policy]  # (S, K)
    transition = np.zeros((model.n_states, model.n_states))
    np.add.at(transition, (rows[:, None].repeat(probability.shape[1], 1), model.next_state[rows, policy]), continuing)
    reward = (probability * model.reward[rows, policy]).sum(1)  # (S,)
    return transition, reward


def policy_evaluation(model: TabularModel, policy: np.ndarray, gamma: float) -> np.ndarray:
    """V^π (S,) of the deterministic `policy` (S,) in the discounted MDP with no time limit, exactly:
    V^π = r_π + γ P_π V^π  ⇔  (I − γ P_π) V^π = r_π  (one linear solve; needs γ < 1)."""
    if not 0 <= gamma < 1:
        raise ValueError(f"policy_evaluation needs 0 <= gamma < 1 (the system is singular at 1), got {gamma}")
    transition, reward = policy_matrices(model, policy)
    return np.linalg.solve(np.eye(model.n_states) - gamma * transition, reward)


def sampled_return(model: TabularModel, policy: np.ndarray, gamma: float, episodes: int, max_steps: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Discounted returns (episodes,) of `policy` from the start distribution, simulated for `max_steps`
    steps at most (γ^max_steps is the most the cut-off can change): a Monte-Carlo check of `policy_evaluation`."""
    env = BatchedEnv(TabularModel(model.probability, model.next_state, model.reward, model.terminated,
                                  model.initial, None), runs=1, envs_per_run=episodes, rng=rng)
    returns, discount = np.zeros(episodes), np.ones(episodes)
    for _ in range(max_steps):
        _, reward, terminated, _ = env.step(policy[env.state])
        returns += discount * reward  # G = Σ_t γ^t R_{t+1}
        discount = np.where(terminated, 0.0, discount * gamma)  # a finished episode adds nothing more
    return returns
