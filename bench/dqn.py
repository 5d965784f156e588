"""Our DQN vs Stable-Baselines3's DQN on CartPole-v1, with the RL Zoo's tuned hyperparameters.

Variants: `sb3` (SB3 with the RL Zoo config), `mllab` (ours with the same config) and `mllab-quick` (the
`dqn` experiment's quick setting, `DqnExperimentConfig`). All are judged by the same greedy evaluator
(`mllab.rl.dqn.evaluate`: mean return over 100 fresh episodes) every `--evaluation-frequency` environment
steps; a seed "reaches" the target when an evaluation's mean is >= 475, and training stops there (for
`mllab-quick` too, whose experiment trains on to stop_return = 500). Reported times exclude the evaluations
(identical code for all): wall time and CPU time of the process up to the evaluation that reached the target.

Seeds default to the experiment's judged seeds for --seed 0 (`derive_seed(0, "judge", i)`, i < 5), never used
for tuning (the quick setting was tuned on 0–9, `DqnExperimentConfig.tuning_seeds`; the script refuses a tuning
seed). Variants run interleaved, their order rotating every seed, so a change in the machine's load hits all
alike; the summary gives each variant's median (a seed that misses counts as ∞) and the ratio of medians
against SB3.

`--tune LABEL:field=value,...` (repeatable) runs candidates of the quick setting instead, on tuning seeds only,
sequentially in this one process, each judged as the experiment judges (its own evaluations, stop_return, best
evaluated network, confirmation on 100 fresh episodes): how the quick setting was chosen (docs/benchmarks.md,
"DQN tuning").

    .venv/bin/pip install -q -c requirements.txt -e ".[bench]"   # stable-baselines3
    .venv/bin/python bench/dqn.py --out /tmp/bench_dqn.json
    .venv/bin/python bench/dqn.py --seeds 0,1,2 --tune quick: --tune gamma99:gamma=0.99 --out /tmp/tune.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym
import torch

from mllab.core.config import make_config
from mllab.core.seeding import derive_seed
from mllab.experiments.rl import judged_seeds
from mllab.experiments.rl.dqn import DqnExperimentConfig
from mllab.rl import dqn

# RL Zoo (hyperparams/dqn.yml, CartPole-v1), written as our DQNConfig.
ZOO = dqn.DQNConfig(env_id="CartPole-v1", total_timesteps=50_000, learning_rate=2.3e-3, batch_size=64,
                    buffer_size=100_000, learning_starts=1000, gamma=0.99, target_network_frequency=10,
                    train_frequency=256, gradient_steps=128, exploration_fraction=0.16, start_e=1.0, end_e=0.04,
                    width=256, depth=2, loss="huber", max_grad_norm=10.0)


# The `dqn` experiment's quick profile, as a plain DQNConfig.
EXPERIMENT = make_config(DqnExperimentConfig, "quick")
QUICK = dqn.DQNConfig(**{f: getattr(EXPERIMENT, f) for f in dqn.DQNConfig.__dataclass_fields__})


def quick_with(overrides: list[str]) -> dqn.DQNConfig:
    """The quick setting with `field=value` overrides (parsed and validated as `mllab run --set` does)."""
    config = make_config(DqnExperimentConfig, "quick", overrides)
    return dqn.DQNConfig(**{f: getattr(config, f) for f in dqn.DQNConfig.__dataclass_fields__})


def run_ours(config: dqn.DQNConfig, seed: int, confirm: bool = False) -> dict:
    """One run; with `confirm`, its judged network is evaluated on fresh episodes as the experiment does."""
    result = dqn.train(config, seed=seed, progress=False)
    q_values = [u["q_values"] for u in result.updates]
    row = {"reached_step": result.reached_step, "wall": result.reached_seconds, "cpu": result.reached_cpu_seconds,
           "evaluations": [(e["step"], e["mean"]) for e in result.evaluations],
           "total_wall": result.train_seconds, "total_cpu": result.train_cpu_seconds,
           "gradient_cpu": result.gradient_cpu_seconds, "steps": result.steps, "best_step": result.best_step,
           "max_mean_q": max(q_values, default=None)}
    if confirm:
        row["confirmation"] = float(dqn.evaluate(result.network, config.env_id, config.evaluation_episodes,
                                                 seed=derive_seed(seed, "confirm")).mean())
    return row


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
                                   seed=derive_seed(seed, "evaluate", len(self.evaluations)))  # as ours
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
                policy_kwargs={"net_arch": [config.width] * config.depth}, seed=seed % 2**32,  # SB3 takes 32 bits
                device="cpu", verbose=0)
    callback = Evaluate()
    model.learn(total_timesteps=config.total_timesteps, callback=callback)
    reached = callback.reached or (None, None, None)
    return {"reached_step": reached[0], "wall": reached[1], "cpu": reached[2], "evaluations": callback.evaluations,
            "total_wall": time.perf_counter() - start_wall - callback.evaluation_wall,
            "total_cpu": time.process_time() - start_cpu - callback.evaluation_cpu}


def summary(rows: list[dict]) -> dict:
    """Seeds that reached the target and medians over all seeds, a miss counted as ∞ (as a user waits)."""
    reached = [r for r in rows if r["reached_step"] is not None]

    def median(key: str) -> float | None:
        values = [r[key] if r["reached_step"] is not None else float("inf") for r in rows]
        return statistics.median(values) if rows else None

    return {"seeds": len(rows), "reached": len(reached), "median_steps": median("reached_step"),
            "median_wall": median("wall"), "median_cpu": median("cpu")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="judged", help="comma list of seeds, or 'judged': the experiment's judged "
                        "seeds for --seed 0")
    parser.add_argument("--evaluation-frequency", type=int, default=None, help="environment steps between evaluations "
                        "(default: 2500; with --tune, the quick setting's own)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for all")
    parser.add_argument("--variants", default="mllab-quick,sb3", help="comma list of mllab, sb3, mllab-quick")
    parser.add_argument("--out", type=Path, default=Path("bench/dqn.json"), help="results (rewritten after each run)")
    parser.add_argument("--tune", action="append", default=[], metavar="LABEL:FIELD=VALUE,...",
                        help="tuning: a candidate = the quick setting with these overrides (repeatable; no overrides: "
                             "the quick setting itself); runs only on the tuning seeds")
    args = parser.parse_args()
    judged = judged_seeds(0, EXPERIMENT.seeds, EXPERIMENT.tuning_seeds)
    seeds = judged if args.seeds == "judged" else [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    if args.tune:  # choosing the quick setting: tuning seeds only, never the judged ones
        untuned = sorted(set(seeds) - set(EXPERIMENT.tuning_seeds))
        if untuned:
            parser.error(f"--tune runs on tuning seeds {EXPERIMENT.tuning_seeds} only; got {untuned}")
        candidates = dict(c.split(":", 1) if ":" in c else (c, "") for c in args.tune)
        cadence = [] if args.evaluation_frequency is None else [f"evaluation_frequency={args.evaluation_frequency}"]
        configs = {label: quick_with([o for o in overrides.split(",") if o] + cadence)
                   for label, overrides in candidates.items()}
        runners = {label: lambda config, seed: run_ours(config, seed, confirm=True) for label in configs}
    else:
        tuned = sorted(set(seeds) & set(EXPERIMENT.tuning_seeds))
        if tuned:
            parser.error(f"--seeds {tuned} are tuning seeds of the quick setting {EXPERIMENT.tuning_seeds}; "
                         "pick others")
        cadence = {"evaluation_frequency": args.evaluation_frequency or 2500}
        configs = {name: dqn.DQNConfig(**{**(QUICK if name == "mllab-quick" else ZOO).__dict__, **cadence,
                                          "stop_return": ZOO.target_return})  # all stop at the first reach
                   for name in args.variants.split(",")}
        runners = {"mllab": run_ours, "sb3": run_sb3, "mllab-quick": run_ours}
    results: dict[str, list[dict]] = {name: [] for name in configs}
    names = list(configs)
    for i, seed in enumerate(seeds):
        for name in names[i % len(names):] + names[:i % len(names)]:  # the order rotates every seed
            row = {"seed": seed, **runners[name](configs[name], seed)}
            results[name].append(row)
            print(f"{name:11s} seed {seed}: reached {row['reached_step']} steps, wall {row['wall']}, "
                  f"cpu {row['cpu']} (whole run: cpu {row['total_cpu']:.1f}, max mean Q {row.get('max_mean_q')}"
                  + (f", stopped at {row['steps']}, confirmation {row['confirmation']:.1f}" if "confirmation" in row
                     else "") + ")", flush=True)
            summaries = {k: summary(v) for k, v in results.items()}
            record = {"configs": {k: c.__dict__ for k, c in configs.items()}, "threads": args.threads,
                      "seeds": seeds, "results": results, "summary": summaries}
            args.out.write_text(json.dumps(record, indent=1))
    for name in results:
        line = summaries[name]
        sb3 = summaries.get("sb3")
        if sb3 and name != "sb3" and line["median_wall"] and sb3["median_wall"]:  # ∞ where a variant missed
            line["wall_ratio_to_sb3"] = line["median_wall"] / sb3["median_wall"]
            line["cpu_ratio_to_sb3"] = line["median_cpu"] / sb3["median_cpu"]
        print(name, line)
    args.out.write_text(json.dumps({**record, "summary": summaries}, indent=1))


if __name__ == "__main__":
    main()
