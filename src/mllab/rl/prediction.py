"""State-value prediction: constant-α Monte Carlo and TD(0), online and batch (Sutton & Barto §6.1–6.3).

An episode is three arrays of one length T: `states` S_t, `rewards` R_{t+1} and `next_states` S_{t+1}.
Values live in an array V over all states; terminal states have an index too and keep V = 0 (they are
never updated because no transition starts from them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    states: np.ndarray  # (T,) int, S_0 .. S_{T-1}
    rewards: np.ndarray  # (T,) R_1 .. R_T
    next_states: np.ndarray  # (T,) int, S_1 .. S_T (S_T terminal)

    def returns(self, gamma: float = 1.0) -> np.ndarray:
        """G_t = R_{t+1} + γ G_{t+1}, (T,)."""
        g, out = 0.0, np.zeros(len(self.rewards))
        for t in reversed(range(len(self.rewards))):
            g = self.rewards[t] + gamma * g
            out[t] = g
        return out


def episode_from(sequence: list, terminal: int) -> Episode:
    """[S_0, R_1, S_1, R_2, ..., S_{T-1}, R_T] (the book's notation) -> Episode ending in `terminal`."""
    states = np.array(sequence[0::2], dtype=np.int64)
    rewards = np.array(sequence[1::2], dtype=float)
    return Episode(states, rewards, np.append(states[1:], terminal))


# ---- the 5-state random walk (Example 6.2) -------------------------------------------------------------

RANDOM_WALK_STATES = "ABCDE"  # non-terminal states 1..5; 0 = left exit, 6 = right exit (+1)
RANDOM_WALK_TRUE_VALUES = np.arange(1, 6) / 6  # V(A..E) = 1/6 .. 5/6


def random_walk_episode(rng: np.random.Generator, n_states: int = 5) -> Episode:
    """Start in the middle state, step left or right with probability 1/2; reward +1 on the right exit."""
    path = [(n_states + 1) // 2]
    while 0 < path[-1] < n_states + 1:
        path.append(path[-1] + (1 if rng.random() < 0.5 else -1))
    path_array = np.array(path)
    rewards = np.zeros(len(path) - 1)
    rewards[-1] = float(path[-1] == n_states + 1)
    return Episode(path_array[:-1], rewards, path_array[1:])


def random_walk_initial_values(n_states: int = 5) -> np.ndarray:
    """V = 0.5 for A..E and 0 for both exits, as in the book."""
    values = np.full(n_states + 2, 0.5)
    values[0] = values[-1] = 0.0
    return values


def rms_error(values: np.ndarray) -> float:
    """Root mean square error of V(A..E) against the true values 1/6..5/6."""
    return float(np.sqrt(np.mean((values[1:-1] - RANDOM_WALK_TRUE_VALUES) ** 2)))


# ---- online updates --------------------------------------------------------------------------------------

def td_update(values: np.ndarray, episode: Episode, alpha: float, gamma: float = 1.0) -> None:
    """TD(0) after each step, in place: V(S_t) ← V(S_t) + α [R_{t+1} + γ V(S_{t+1}) − V(S_t)]."""
    for s, r, s_next in zip(episode.states, episode.rewards, episode.next_states):
        values[s] += alpha * (r + gamma * values[s_next] - values[s])


def mc_update(values: np.ndarray, episode: Episode, alpha: float, gamma: float = 1.0) -> None:
    """Constant-α every-visit MC at the episode's end, in place: V(S_t) ← V(S_t) + α [G_t − V(S_t)]."""
    for s, g in zip(episode.states, episode.returns(gamma)):
        values[s] += alpha * (g - values[s])


# ---- batch updating (§6.3) -------------------------------------------------------------------------------

def batch_values(episodes: list[Episode], method: str, values: np.ndarray, alpha: float = 0.5, gamma: float = 1.0,
                 tolerance: float = 1e-7, max_sweeps: int = 100_000) -> np.ndarray:
    """Present all `episodes` again and again until V stops changing; returns the converged V (a copy).

    Each sweep computes the increments of every transition with the sweep's V and applies them together.
    The book sums them with a small α; we apply α times their mean per state, which has the same fixed
    point (the increments of each state sum to zero) and needs far fewer sweeps.
    method: "td" (target R + γ V(S')) or "mc" (target G_t).
    """
    transitions = Transitions.of(episodes, gamma)
    return batch_solve(transitions, method, values, alpha, gamma, tolerance, max_sweeps)


@dataclass
class Transitions:
    """Episodes flattened to (N,) arrays, with each transition's return G_t."""

    states: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    returns: np.ndarray

    @classmethod
    def of(cls, episodes: list[Episode], gamma: float = 1.0) -> Transitions:
        return cls(*(np.concatenate(parts) for parts in zip(*((e.states, e.rewards, e.next_states, e.returns(gamma))
                                                              for e in episodes))))

    def select(self, mask: np.ndarray) -> Transitions:
        return Transitions(self.states[mask], self.rewards[mask], self.next_states[mask], self.returns[mask])


def batch_solve(transitions: Transitions, method: str, values: np.ndarray, alpha: float = 0.5, gamma: float = 1.0,
                tolerance: float = 1e-7, max_sweeps: int = 100_000) -> np.ndarray:
    """`batch_values` on already flattened transitions."""
    if method not in ("td", "mc"):
        raise ValueError(f"method must be 'td' or 'mc', got {method!r}")
    t = transitions
    values = values.astype(float).copy()
    visits = np.bincount(t.states, minlength=values.size)
    for _ in range(max_sweeps):
        target = t.rewards + gamma * values[t.next_states] if method == "td" else t.returns  # R + γV(S') or G_t
        error_sum = np.bincount(t.states, weights=target - values[t.states], minlength=values.size)
        step = alpha * np.divide(error_sum, visits, out=np.zeros_like(error_sum), where=visits > 0)
        values += step
        if np.abs(step).max() < tolerance:
            break
    return values


def example_6_4_episodes() -> list[Episode]:
    """The eight episodes of Example 6.4: A,0,B,0 once; B,1 six times; B,0 once. States A=0, B=1, terminal=2."""
    a, b, terminal = 0, 1, 2
    sequences = [[a, 0, b, 0]] + [[b, 1]] * 6 + [[b, 0]]
    return [episode_from(seq, terminal) for seq in sequences]


# ---- learning curves on the random walk (Figure 6.2) ----------------------------------------------------

def online_rms_curves(episodes: list[list[Episode]], method: str, alpha: float) -> np.ndarray:
    """RMS error (runs, 1 + episodes) of online `method` ("td" | "mc") at step size α, before and after each
    episode; episodes[r] is run r's sequence (every run starts from V = 0.5)."""
    update = {"td": td_update, "mc": mc_update}[method]
    errors = np.zeros((len(episodes), len(episodes[0]) + 1))
    for r, run_episodes in enumerate(episodes):
        values = random_walk_initial_values()
        errors[r, 0] = rms_error(values)
        for k, episode in enumerate(run_episodes):
            update(values, episode, alpha)
            errors[r, k + 1] = rms_error(values)
    return errors


def batch_rms_curves(episodes: list[list[Episode]], method: str) -> np.ndarray:
    """RMS error (runs, episodes) of batch `method` after each episode, trained on all episodes so far.

    All runs are solved together: run r's state s becomes index 7r + s, so one sweep updates every run."""
    n_states = len(RANDOM_WALK_STATES) + 2
    shifted, episode_index = [], []
    for r, run_episodes in enumerate(episodes):
        for k, e in enumerate(run_episodes):
            shifted.append(Episode(e.states + n_states * r, e.rewards, e.next_states + n_states * r))
            episode_index.append(np.full(len(e.states), k))
    transitions, index = Transitions.of(shifted), np.concatenate(episode_index)
    values = np.tile(random_walk_initial_values(), len(episodes))
    errors = np.zeros((len(episodes), len(episodes[0])))
    for k in range(len(episodes[0])):
        values = batch_solve(transitions.select(index <= k), method, values, alpha=1.0, tolerance=1e-6)
        per_run = values.reshape(len(episodes), n_states)[:, 1:-1]  # (runs, 5)
        errors[:, k] = np.sqrt(((per_run - RANDOM_WALK_TRUE_VALUES) ** 2).mean(1))
    return errors
