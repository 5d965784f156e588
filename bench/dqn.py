"""Our DQN vs Stable-Baselines3's DQN on CartPole-v1 with the RL Zoo's tuned hyperparameters.

Both train with the same hyperparameters and are judged by the same greedy evaluator
(`mllab.rl.dqn.evaluate`: mean return over 100 fresh episodes) every `--evaluation-frequency`
environment steps; a seed "reaches" the target when an evaluation's mean is >= 475, and training stops
there. Reported times exclude the evaluations (they are identical for both): wall time and CPU time of
the process up to the evaluation that reached the target. Seeds alternate between the two libraries so
that a change in the machine's load hits both alike.

    .venv/bin/pip install -c requirements.txt stable-baselines3   # bench-only dependency
    .venv/bin/python bench/dqn.py --seeds 5 --out bench/dqn.json
    .venv/bin/python bench/dqn.py --seeds 5 --variants mllab-quick --out bench/dqn-quick.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym
import torch

from mllab.rl import dqn

# RL Zoo (hyperparams/dqn.yml, CartPole-v1), written as our DQNConfig.
ZOO = dqn.DQNConfig(env_id="CartPole-v1", total_timesteps=50_000, learning_rate=2.3e-3, batch_size=64,
                    buffer_size=100_000, learning_starts=1000, gamma=0.99, target_network_frequency=10,
                    train_frequency=256, gradient_steps=128, exploration_fraction=0.16, start_e=1.0, end_e=0.04,
                    width=256, depth=2, loss="huber", max_grad_norm=10.0)


# The `dqn` experiment's quick profile (narrower network, larger and fewer batches), same schedule otherwise.
QUICK = dqn.DQNConfig(**{**ZOO.__dict__, "width": 64, "batch_size": 256, "gradient_steps": 64})


def run_ours(config: dqn.DQNConfig, seed: int) -> dict:
    result = dqn.train(config, seed=seed, progress=False)
    return {"reached_step": result.reached_step, "wall": result.reached_seconds, "cpu": result.reached_cpu_seconds,
            "evaluations": [(e["step"], e["mean"]) for e in result.evaluations],
            "total_wall": result.train_seconds, "total_cpu": result.train_cpu_seconds}


def run_sb3(config: dqn.DQNConfig, seed: int) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    class Evaluate(BaseCallback):
        """Every `evaluation_frequency` steps: the shared greedy evaluation, timed apart; stop at the target."""

        def __init__(self):
            super().__init__()
            self.evaluations, self.evaluation_wall, self.evaluation_cpu = [], 0.0, 0.0
            self.reached = None

        def _on_step(self) -> bool:
            if self.num_timesteps % config.evaluation_frequency:
                return True
            wall, cpu = time.perf_counter(), time.process_time()
            returns = dqn.evaluate(self.model.q_net, config.env_id, config.evaluation_episodes,
                                   seed=10**6 * (seed + 1) + self.num_timesteps)
            self.evaluation_wall += time.perf_counter() - wall
            self.evaluation_cpu += time.process_time() - cpu
            self.evaluations.append((self.num_timesteps, float(returns.mean())))
            if returns.mean() >= config.target_return:
                self.reached = (self.num_timesteps, time.perf_counter() - start_wall - self.evaluation_wall,
                                time.process_time() - start_cpu - self.evaluation_cpu)
                return False
            return True

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    model = DQN("MlpPolicy", gym.make(config.env_id), learning_rate=config.learning_rate,
                batch_size=config.batch_size, buffer_size=config.buffer_size, learning_starts=config.learning_starts,
                gamma=config.gamma, target_update_interval=config.target_network_frequency,
                train_freq=config.train_frequency, gradient_steps=config.gradient_steps,
                exploration_fraction=config.exploration_fraction, exploration_initial_eps=config.start_e,
                exploration_final_eps=config.end_e, max_grad_norm=config.max_grad_norm,
                policy_kwargs={"net_arch": [config.width] * config.depth}, seed=seed, device="cpu", verbose=0)
    callback = Evaluate()
    model.learn(total_timesteps=config.total_timesteps, callback=callback)
    reached = callback.reached or (None, None, None)
    return {"reached_step": reached[0], "wall": reached[1], "cpu": reached[2], "evaluations": callback.evaluations,
            "total_wall": time.perf_counter() - start_wall - callback.evaluation_wall,
            "total_cpu": time.process_time() - start_cpu - callback.evaluation_cpu}


def summary(rows: list[dict]) -> dict:
    reached = [r for r in rows if r["reached_step"] is not None]
    median = lambda key: statistics.median(r[key] for r in reached) if reached else None  # noqa: E731
    return {"seeds": len(rows), "reached": len(reached), "median_steps": median("reached_step"),
            "median_wall": median("wall"), "median_cpu": median("cpu")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per library")
    parser.add_argument("--evaluation-frequency", type=int, default=5000, help="environment steps between evaluations")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both")
    parser.add_argument("--variants", default="mllab,sb3", help="comma list of mllab, sb3, mllab-quick")
    parser.add_argument("--out", type=Path, default=Path("bench/dqn.json"), help="results (rewritten after each run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = {name: dqn.DQNConfig(**{**(QUICK if name == "mllab-quick" else ZOO).__dict__,
                                       "evaluation_frequency": args.evaluation_frequency})
               for name in args.variants.split(",")}
    runners = {"mllab": run_ours, "sb3": run_sb3, "mllab-quick": run_ours}
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for seed in range(args.seeds):
        for name, config in configs.items():
            row = {"seed": seed, **runners[name](config, seed)}
            results[name].append(row)
            print(f"{name:6s} seed {seed}: reached {row['reached_step']} steps, wall {row['wall']}, cpu {row['cpu']}",
                  flush=True)
            record = {"configs": {k: c.__dict__ for k, c in configs.items()}, "threads": args.threads,
                      "results": results, "summary": {k: summary(v) for k, v in results.items()}}
            args.out.write_text(json.dumps(record, indent=1))
    for name, rows in results.items():
        print(name, summary(rows))


if __name__ == "__main__":
    main()
