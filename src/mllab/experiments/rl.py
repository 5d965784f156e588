"""Section "rl": a Q-table with the Bellman update, Monte-Carlo vs TD prediction, deep Q-learning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from mllab.core.config import Config
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.rl import dqn, prediction, tabular
from mllab.rl.plots import plot_cliff, plot_grid_policy, plot_q_table, smooth

# ------------------------------------------------------------------------------------------------ q-table

CONTROL_ENVS = ("FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4")


@dataclass
class QTableConfig(Config):
    runs: int = 3
    """independent Q-learning runs (seeds) per environment; the claim is judged on their mean"""
    envs_per_run: int = 64
    """environments each run steps side by side (their updates to one (s, a) are averaged)"""
    steps: tuple[int, ...] = (10_000, 30_000, 5_000)
    """batched steps of Q-learning on FrozenLake 4×4, FrozenLake 8×8 and Taxi"""
    alpha: float = 0.1
    """step size α at the start; it falls linearly to alpha / 10"""
    gamma: float = 0.999
    """discount factor γ of Q-learning (the optimum is judged undiscounted, within the time limit)"""
    epsilon_fraction: float = 0.5
    """ε falls linearly from 1 to 0.05 over this fraction of the steps"""
    tolerance: float = 0.02
    """the claim: the greedy policy scores within this fraction of the optimum"""
    evaluation_episodes: int = 1000
    """episodes of the first run's greedy policy in the real gymnasium environment (a cross-check)"""
    cliff_runs: int = 20
    """CliffWalking: independent runs of SARSA and of Q-learning (averaged, as in Example 6.6)"""
    cliff_episodes: int = 500
    """CliffWalking: episodes per run"""
    cliff_alpha: float = 0.5
    """CliffWalking: step size α"""
    cliff_epsilon: float = 0.1
    """CliffWalking: constant exploration ε"""

    profiles: ClassVar[dict] = {
        "smoke": {"runs": 1, "envs_per_run": 16, "steps": (100, 100, 100), "evaluation_episodes": 20,
                  "cliff_runs": 2, "cliff_episodes": 10},
        "full": {"runs": 10, "steps": (20_000, 100_000, 10_000), "evaluation_episodes": 10_000, "cliff_runs": 100},
    }

    def validate(self) -> None:
        super().validate()
        if len(self.steps) != len(CONTROL_ENVS) or min(self.steps) < 1:
            raise BadInput(f"--set steps: give {len(CONTROL_ENVS)} positive step counts, e.g. --set steps=10000,30000,5000")
        for name in ("gamma", "epsilon_fraction", "tolerance", "cliff_alpha", "cliff_epsilon"):
            if not 0 < getattr(self, name) <= 1:
                raise BadInput(f"--set {name}: must be in (0, 1], got {getattr(self, name)}")
        if min(self.runs, self.envs_per_run, self.evaluation_episodes, self.cliff_runs, self.cliff_episodes) < 1:
            raise BadInput("--set runs/envs_per_run/evaluation_episodes/cliff_runs/cliff_episodes: must be >= 1")


def greedy_path(model: tabular.TabularModel, policy: np.ndarray, start: int, max_steps: int = 100) -> list[int]:
    """States visited by the greedy policy (most likely outcome each step) until termination or max_steps."""
    path = [start]
    for _ in range(max_steps):
        s, a = path[-1], policy[path[-1]]
        k = model.probability[s, a].argmax()
        path.append(int(model.next_state[s, a, k]))
        if model.terminated[s, a, k]:
            break
    return path


@experiment("q-table", section="rl",
            claim="Q-learning's greedy policy scores within 2% of the value-iteration optimum on FrozenLake 4×4, "
                  "8×8 and Taxi; on CliffWalking SARSA learns the safe path and Q-learning the optimal edge path "
                  "(greedy return −13) while earning less online under ε = 0.1 (Sutton & Barto Example 6.6).")
def q_table(run: Run, cfg: QTableConfig) -> None:
    """Q(s,a) ← Q(s,a) + α[r + γ max_a' Q(s',a') − Q(s,a)] against value iteration on env.unwrapped.P."""
    fig_curves, axes_curves = plt.subplots(1, 3, figsize=(14, 3.6))
    for i, (env_id, steps) in enumerate(zip(CONTROL_ENVS, cfg.steps)):
        model = tabular.transition_model(gym.make(env_id))
        optimal_values, optimal_q = tabular.value_iteration(model, gamma=1.0, horizon=model.horizon)
        optimum = float(model.initial @ optimal_values)  # the time-limited optimum (its policy depends on time)
        stationary = tabular.policy_return(model, optimal_q.argmax(1))  # its first-step actions used at every step
        result = tabular.train(model, "q-learning", runs=cfg.runs, envs_per_run=cfg.envs_per_run, steps=steps,
                               alpha=tabular.linear_schedule(cfg.alpha, cfg.alpha / 10, 1.0),
                               epsilon=tabular.linear_schedule(1.0, 0.05, cfg.epsilon_fraction),
                               gamma=cfg.gamma, seed=run.seed * 1000 + i)
        scores = np.array([tabular.policy_return(model, q.argmax(1)) for q in result.q])  # exact, per run
        simulated = tabular.evaluate_greedy(env_id, result.q[0], cfg.evaluation_episodes, seed=run.seed * 10**6)
        standard_error = simulated.std() / np.sqrt(simulated.size)
        run.metric(f"{env_id}/optimum", optimum)
        run.metric(f"{env_id}/best_stationary_policy", stationary)
        run.metric(f"{env_id}/greedy_returns", scores)
        run.log_metrics(env=env_id, optimum=optimum, greedy_mean=scores.mean(), simulated=simulated.mean())
        run.check(f"{env_id}: greedy Q-learning policy within {cfg.tolerance:.0%} of the optimum",
                  scores.mean() >= (1 - cfg.tolerance) * optimum,
                  observed=f"greedy return {scores.mean():.4f} (runs {scores.min():.4f}..{scores.max():.4f}, "
                           f"n={cfg.runs}) = {scores.mean() / optimum:.2%} of the optimum {optimum:.4f}; "
                           f"the optimum's first-step actions as a stationary policy score {stationary:.4f} = {stationary / optimum:.2%}",
                  expected=f">= {1 - cfg.tolerance:.0%} of the value-iteration optimum")
        run.check(f"{env_id}: the table's exact return agrees with {cfg.evaluation_episodes} real episodes",
                  abs(simulated.mean() - scores[0]) <= 4 * standard_error + 1e-9,
                  observed=f"gymnasium {simulated.mean():.4f} ± {standard_error:.4f} vs exact {scores[0]:.4f}",
                  expected="|difference| <= 4 standard errors")
        for returns in result.episode_returns:
            axes_curves[i].plot(smooth(returns, 200), alpha=0.7)
        axes_curves[i].axhline(optimum, color="k", ls="--", label="optimum (value iteration)")
        axes_curves[i].set(title=f"{env_id} (ε-greedy, training)", xlabel="episode", ylabel="return (moving mean)")
        axes_curves[i].legend(fontsize=8)
        if env_id.startswith("FrozenLake"):
            run.figure(f"policy-{env_id}", plot_grid_policy(gym.make(env_id), result.q[0], f"{env_id}: learned "
                                                            f"max_a Q(s, a) and greedy policy"))
        else:
            run.figure(f"q-table-{env_id}", plot_q_table(result.q[0], f"{env_id}: learned Q-table (run 0)"))
    run.figure("learning-curves", fig_curves)
    cliff_walking(run, cfg)


def cliff_walking(run: Run, cfg: QTableConfig) -> None:
    """Example 6.6: ε = 0.1, α = 0.5, γ = 1; online return per episode averaged over runs."""
    model = tabular.transition_model(gym.make("CliffWalking-v1"))
    start = int(np.argmax(model.initial))
    n_columns = 12
    results, paths = {}, {}
    for algorithm in ("sarsa", "q-learning"):
        results[algorithm] = tabular.train(model, algorithm, runs=cfg.cliff_runs, episodes=cfg.cliff_episodes,
                                           alpha=cfg.cliff_alpha, epsilon=cfg.cliff_epsilon, gamma=1.0,
                                           seed=run.seed * 1000 + 7)
        paths[algorithm] = [greedy_path(model, q.argmax(1), start) for q in results[algorithm].q]
    online = {a: np.array(r.episode_returns) for a, r in results.items()}  # (runs, episodes)
    late = slice(cfg.cliff_episodes // 5, None)  # after the first fifth: learning has settled
    online_mean = {a: x[:, late].mean() for a, x in online.items()}
    online_error = {a: x[:, late].mean(1).std() / np.sqrt(x.shape[0]) for a, x in online.items()}
    greedy_q = np.array([tabular.policy_return(model, q.argmax(1), horizon=100) for q in results["q-learning"].q])
    edge_row = start // n_columns - 1  # the row beside the cliff

    def kind(path: list[int]) -> str:
        """edge: walks the row beside the cliff (the optimal 13 steps); safe: at most 2 of its 10 cells."""
        if path[-1] != model.n_states - 1 or len(path) > 100:
            return "no goal"
        edge_cells = {s for s in path if s // n_columns == edge_row and 0 < s % n_columns < n_columns - 1}
        return "safe" if len(edge_cells) <= 2 else "edge"

    kinds = {a: [kind(p) for p in ps] for a, ps in paths.items()}
    for a in kinds:
        run.metric(f"cliff/{a}/paths", {k: kinds[a].count(k) for k in ("safe", "edge", "no goal")})
        run.metric(f"cliff/{a}/online_return", online_mean[a])
    safe_share = kinds["sarsa"].count("safe") / cfg.cliff_runs
    run.check("CliffWalking: SARSA's greedy path is the safe one",
              safe_share > 0.5,
              observed=f"SARSA runs: {kinds['sarsa'].count('safe')} safe, {kinds['sarsa'].count('edge')} edge, "
                       f"{kinds['sarsa'].count('no goal')} not reaching the goal (constant α leaves noise)",
              expected="more than half of the runs safe (at most 2 of the 10 cells beside the cliff)")
    run.check("CliffWalking: Q-learning's greedy path is the optimal edge path with return −13",
              kinds["q-learning"].count("edge") == cfg.cliff_runs and np.all(greedy_q == -13),
              observed=f"{kinds['q-learning'].count('edge')}/{cfg.cliff_runs} edge paths; greedy returns "
                       f"{greedy_q.min():.0f}..{greedy_q.max():.0f}", expected="every run: edge path, return −13")
    run.check("CliffWalking: Q-learning's online return under ε-greedy is worse than SARSA's",
              online_mean["q-learning"] < online_mean["sarsa"],
              observed=f"mean return per episode (episodes {late.start + 1}..{cfg.cliff_episodes}): Q-learning "
                       f"{online_mean['q-learning']:.1f} ± {online_error['q-learning']:.1f}, SARSA "
                       f"{online_mean['sarsa']:.1f} ± {online_error['sarsa']:.1f} ({cfg.cliff_runs} runs)",
              expected="Q-learning < SARSA")
    run.figure("cliff-walking", plot_cliff(online, paths, start))


# ------------------------------------------------------------------------------------------------ mc-vs-td


@dataclass
class McVsTdConfig(Config):
    runs: int = 100
    """independent runs, each on its own episodes (curves are their mean)"""
    episodes: int = 100
    """episodes per run"""
    td_alphas: tuple[float, ...] = (0.05, 0.1, 0.15)
    """constant step sizes α of TD(0)"""
    mc_alphas: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04)
    """constant step sizes α of Monte Carlo"""
    batch_runs: int = 100
    """independent runs of batch updating"""

    profiles: ClassVar[dict] = {"smoke": {"runs": 3, "episodes": 10, "batch_runs": 2}, "full": {"runs": 1000}}

    def validate(self) -> None:
        super().validate()
        if min(self.runs, self.episodes, self.batch_runs) < 1:
            raise BadInput("--set runs/episodes/batch_runs: must be >= 1")
        if not self.td_alphas or not self.mc_alphas or not all(0 < a <= 1 for a in self.td_alphas + self.mc_alphas):
            raise BadInput("--set td_alphas/mc_alphas: give step sizes in (0, 1], e.g. --set td_alphas=0.05,0.1")


def online_curves(episodes: list[list[prediction.Episode]], method: str, alpha: float) -> np.ndarray:
    """RMS error (runs, 1 + episodes) of online `method` ("td" | "mc") before and after each episode."""
    update = prediction.td_update if method == "td" else prediction.mc_update
    errors = np.zeros((len(episodes), len(episodes[0]) + 1))
    for r, run_episodes in enumerate(episodes):
        values = prediction.random_walk_initial_values()
        errors[r, 0] = prediction.rms_error(values)
        for k, episode in enumerate(run_episodes):
            update(values, episode, alpha)
            errors[r, k + 1] = prediction.rms_error(values)
    return errors


def batch_curves(episodes: list[list[prediction.Episode]], method: str) -> np.ndarray:
    """RMS error (runs, episodes) of batch `method` after each episode, on all episodes so far.

    All runs are solved together: run r's state s becomes index 7 r + s, so one sweep updates every run.
    """
    n_states = len(prediction.RANDOM_WALK_STATES) + 2
    shifted, episode_index = [], []
    for r, run_episodes in enumerate(episodes):
        for k, e in enumerate(run_episodes):
            shifted.append(prediction.Episode(e.states + n_states * r, e.rewards, e.next_states + n_states * r))
            episode_index.append(np.full(len(e.states), k))
    transitions, episode_index = prediction.Transitions.of(shifted), np.concatenate(episode_index)
    values = np.tile(prediction.random_walk_initial_values(), len(episodes))
    errors = np.zeros((len(episodes), len(episodes[0])))
    for k in range(len(episodes[0])):
        values = prediction.batch_solve(transitions.select(episode_index <= k), method, values, alpha=1.0,
                                        tolerance=1e-6)
        per_run = values.reshape(len(episodes), n_states)[:, 1:-1]  # (runs, 5)
        errors[:, k] = np.sqrt(((per_run - prediction.RANDOM_WALK_TRUE_VALUES) ** 2).mean(1))
    return errors


@experiment("mc-vs-td", section="rl",
            claim="On the 5-state random walk TD(0) ends with lower RMS error than constant-α Monte Carlo, online "
                  "(best α of each) and under batch updating; on Example 6.4 batch MC gives V(A) = 0 and batch TD "
                  "V(A) = 3/4.")
def mc_vs_td(run: Run, cfg: McVsTdConfig) -> None:
    """Sutton & Barto Example 6.2 (Figure 6.2), Figure 6.2 batch (§6.3) and Example 6.4."""
    rng = np.random.default_rng(run.seed)
    episodes = [[prediction.random_walk_episode(rng) for _ in range(cfg.episodes)] for _ in range(cfg.runs)]
    curves = {("td", a): online_curves(episodes, "td", a) for a in cfg.td_alphas}
    curves |= {("mc", a): online_curves(episodes, "mc", a) for a in cfg.mc_alphas}
    final = {key: c[:, -1].mean() for key, c in curves.items()}
    best_td = min((k for k in final if k[0] == "td"), key=final.get)
    best_mc = min((k for k in final if k[0] == "mc"), key=final.get)
    paired = curves[best_td][:, -1] - curves[best_mc][:, -1]  # same episodes for both: a paired difference
    run.metric("online_final_rms", {f"{m} α={a}": v for (m, a), v in final.items()})
    run.check("online: the best TD curve ends below the best MC curve", final[best_td] < final[best_mc],
              observed=f"RMS after {cfg.episodes} episodes: TD α={best_td[1]} {final[best_td]:.4f}, MC α={best_mc[1]} "
                       f"{final[best_mc]:.4f}; paired difference {paired.mean():.4f} ± "
                       f"{paired.std() / np.sqrt(cfg.runs):.4f} ({cfg.runs} runs)", expected="TD < MC")

    batch = {m: batch_curves(episodes[:cfg.batch_runs], m) for m in ("td", "mc")}
    batch_paired = batch["td"][:, -1] - batch["mc"][:, -1]
    run.metric("batch_final_rms", {m: b[:, -1].mean() for m, b in batch.items()})
    run.check("batch updating: TD ends below MC", batch["td"][:, -1].mean() < batch["mc"][:, -1].mean(),
              observed=f"RMS after {cfg.episodes} episodes: TD {batch['td'][:, -1].mean():.4f}, MC "
                       f"{batch['mc'][:, -1].mean():.4f}; paired difference {batch_paired.mean():.4f} ± "
                       f"{batch_paired.std() / np.sqrt(len(batch_paired)):.4f}", expected="TD < MC")

    example = prediction.example_6_4_episodes()
    start = np.zeros(3)
    mc_values = prediction.batch_values(example, "mc", start, alpha=1.0)
    td_values = prediction.batch_values(example, "td", start, alpha=0.5)
    run.metric("example_6_4", {"mc": mc_values[:2], "td": td_values[:2]})
    run.check("Example 6.4: batch MC gives V(A) = 0 and batch TD gives V(A) = 3/4",
              abs(mc_values[0]) < 1e-4 and abs(td_values[0] - 0.75) < 1e-4,
              observed=f"MC V(A)={mc_values[0]:.5f} V(B)={mc_values[1]:.5f}; TD V(A)={td_values[0]:.5f} "
                       f"V(B)={td_values[1]:.5f}", expected="MC V(A)=0, TD V(A)=0.75, both V(B)=0.75")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    values = prediction.random_walk_initial_values()
    shown = {0: values.copy()}
    for k, episode in enumerate(episodes[0], start=1):
        prediction.td_update(values, episode, 0.1)
        shown[k] = values.copy()
    for k in (0, 1, 10, 100):
        if k in shown:
            left.plot(list(prediction.RANDOM_WALK_STATES), shown[k][1:-1], marker="o", label=f"{k} episodes")
    left.plot(list(prediction.RANDOM_WALK_STATES), prediction.RANDOM_WALK_TRUE_VALUES, "k--", label="true values")
    left.set(title="TD(0), α = 0.1, one run", xlabel="state", ylabel="estimated value")
    left.legend(fontsize=8)
    for (method, alpha), curve in curves.items():
        right.plot(curve.mean(0), color="tab:blue" if method == "td" else "tab:red",
                   alpha=0.4 + 4 * alpha if method == "td" else 0.4 + 12 * alpha, label=f"{method.upper()} α={alpha}")
    right.set(title=f"RMS error, averaged over {cfg.runs} runs", xlabel="walks / episodes", ylabel="RMS error")
    right.legend(fontsize=8)
    run.figure("random-walk", fig)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method, color in (("td", "tab:blue"), ("mc", "tab:red")):
        ax.plot(np.arange(1, cfg.episodes + 1), batch[method].mean(0), color=color, label=f"batch {method.upper()}")
    ax.set(title=f"Batch training, averaged over {len(batch_paired)} runs", xlabel="walks / episodes", ylabel="RMS error")
    ax.legend()
    run.figure("batch-updating", fig)


# ------------------------------------------------------------------------------------------------ dqn


@dataclass
class DqnExperimentConfig(dqn.DQNConfig, Config):
    """The RL Zoo's CartPole setting with a narrower network and larger, fewer batches: tuned once on seeds
    0 and 1 against (a) the RL Zoo setting with width 64 and (b) width 128 (see docs/benchmarks.md)."""

    width: int = 64
    """units in each hidden layer of the Q-network"""
    batch_size: int = 256
    """transitions per gradient step"""
    gradient_steps: int = 64
    """gradient steps per training phase (every train_frequency environment steps)"""
    evaluation_frequency: int = 2500
    """environment steps between greedy evaluations"""
    seeds: int = 2
    """independent training runs; the claim must hold for every one"""
    threads: int = 1
    """torch CPU threads (a small MLP runs fastest on one)"""

    profiles: ClassVar[dict] = {
        "smoke": {"total_timesteps": 1500, "learning_starts": 500, "train_frequency": 100, "gradient_steps": 10,
                  "width": 32, "evaluation_frequency": 1500, "evaluation_episodes": 5, "seeds": 1},
        "full": {"seeds": 10},
    }

    def validate(self) -> None:
        super().validate()
        if self.loss not in ("huber", "mse"):
            raise BadInput(f"--set loss: choose huber or mse, got {self.loss!r}")
        if not 0 <= self.end_e <= 1 or not 0 <= self.start_e <= 1 or not 0 < self.exploration_fraction <= 1:
            raise BadInput("--set start_e/end_e/exploration_fraction: must lie in [0, 1] (fraction in (0, 1])")
        if min(self.buffer_size, self.train_frequency, self.gradient_steps, self.width, self.depth,
               self.target_network_frequency, self.evaluation_episodes, self.threads) < 1:
            raise BadInput("--set buffer_size/train_frequency/gradient_steps/width/depth/...: must be >= 1")


@experiment("dqn", section="rl",
            claim="DQN solves CartPole-v1: the greedy policy's mean return over 100 evaluation episodes reaches "
                  ">= 475 for every seed.")
def dqn_cartpole(run: Run, cfg: DqnExperimentConfig) -> None:
    """Train until a periodic greedy evaluation reaches the target, then confirm on 100 fresh episodes."""
    torch.set_num_threads(cfg.threads)
    fig, ax = plt.subplots(figsize=(7, 4))
    confirmed = []
    for i in range(cfg.seeds):
        seed = run.seed * 100 + i
        result = dqn.train(cfg, seed=seed)
        confirmation = dqn.evaluate(result.network, cfg.env_id, cfg.evaluation_episodes, seed=10**9 + seed * 10**4)
        confirmed.append(confirmation.mean())
        run.log(f"seed {seed}: reached {result.reached_step} steps, training {result.train_seconds:.1f}s wall / "
                f"{result.train_cpu_seconds:.1f}s CPU, evaluating {result.evaluation_seconds:.1f}s wall / "
                f"{result.evaluation_cpu_seconds:.1f}s CPU; confirmation {confirmation.mean():.1f}")
        run.metric(f"seed{seed}", {"reached_step": result.reached_step, "train_seconds": result.train_seconds,
                                   "train_cpu_seconds": result.train_cpu_seconds,
                                   "evaluation_seconds": result.evaluation_seconds,
                                   "evaluations": [(e["step"], e["mean"]) for e in result.evaluations],
                                   "confirmation_mean": confirmation.mean(), "confirmation_std": confirmation.std()})
        for step, episode_return in result.episode_returns:
            run.log_metrics(seed=seed, step=step, episode_return=episode_return)
        steps, returns = zip(*result.episode_returns) if result.episode_returns else ((), ())
        line, = ax.plot(steps, smooth(np.array(returns), 10), alpha=0.6, label=f"seed {seed} training (ε-greedy)")
        ax.plot([e["step"] for e in result.evaluations], [e["mean"] for e in result.evaluations], "o-",
                color=line.get_color(), label=f"seed {seed} greedy evaluation")
    ax.axhline(cfg.target_return, color="k", ls="--", label=f"target {cfg.target_return:g}")
    ax.set(title=f"DQN on {cfg.env_id}", xlabel="environment step", ylabel="episode return")
    ax.legend(fontsize=7)
    run.figure("learning-curve", fig)
    confirmed_array = np.array(confirmed)
    run.check(f"every seed's greedy policy reaches a mean return >= {cfg.target_return:g}",
              bool(np.all(confirmed_array >= cfg.target_return)),
              observed=f"confirmation means over {cfg.evaluation_episodes} fresh episodes per seed: "
                       + ", ".join(f"{c:.1f}" for c in confirmed_array)
                       + f" (mean {confirmed_array.mean():.1f}, min {confirmed_array.min():.1f})",
              expected=f">= {cfg.target_return:g} for each of {cfg.seeds} seeds")
