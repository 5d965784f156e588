import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from mllab.core.seeding import derive_seed
from mllab.models.mlp import MLP
from mllab.rl import dqn
from mllab.rl.replay import ReplayBuffer


class Fixed(nn.Module):
    """A 'network' that returns the given action values for every observation."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.tensor(values, dtype=torch.float32)

    def forward(self, x):
        return self.values.expand(x.shape[0], -1)


def test_td_target_bootstraps_after_truncation_but_not_after_termination():
    rewards = torch.tensor([1.0, 1.0])
    terminated = torch.tensor([1.0, 0.0])  # the second transition was cut by the time limit: terminated = 0
    y = dqn.td_target(Fixed([2.0, 5.0]), rewards, torch.zeros(2, 4), terminated, gamma=0.9)
    torch.testing.assert_close(y, torch.tensor([1.0, 1.0 + 0.9 * 5.0]))


def test_double_dqn_values_the_online_argmax_with_the_target_network():
    y = dqn.td_target(Fixed([2.0, 5.0]), torch.zeros(1), torch.zeros(1, 4), torch.zeros(1), gamma=1.0,
                      q_network=Fixed([3.0, 0.0]))  # the online network prefers action 0
    torch.testing.assert_close(y, torch.tensor([2.0]))


def test_replay_buffer_overwrites_the_oldest_and_samples_whole_transitions():
    buffer = ReplayBuffer(capacity=5, observation_shape=(2,), seed=0)
    for i in range(8):
        buffer.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), terminated=(i == 7))
    assert len(buffer) == 5
    batch = buffer.sample(200)
    rewards = batch["rewards"].numpy()
    assert set(rewards.tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0}  # 0, 1, 2 were overwritten
    np.testing.assert_array_equal(batch["observations"][:, 0].numpy(), rewards)
    np.testing.assert_array_equal(batch["next_observations"][:, 1].numpy(), rewards + 1)
    np.testing.assert_array_equal(batch["actions"].numpy(), rewards.astype(int) % 2)
    np.testing.assert_array_equal(batch["terminated"].numpy(), (rewards == 7).astype(np.float32))
    again = ReplayBuffer(capacity=5, observation_shape=(2,), seed=0)
    for i in range(8):
        again.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), terminated=False)
    np.testing.assert_array_equal(again.sample(200)["rewards"].numpy(), rewards)  # seeded


def test_epsilon_schedule():
    assert dqn.linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert abs(dqn.linear_schedule(1.0, 0.1, 100, 50) - 0.55) < 1e-12
    assert dqn.linear_schedule(1.0, 0.1, 100, 500) == 0.1


def balancing_controller() -> nn.Module:
    """Q(s, ·) that pushes the cart under the pole (θ + ω/2 > 0: right): balances for the whole 500 steps."""
    network = nn.Linear(4, 2)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[0.0, 0.0, -1.0, -0.5], [0.0, 0.0, 1.0, 0.5]]))
        network.bias.zero_()
    return network


@pytest.mark.parametrize("policy", ["random", "balancing"])
def test_vectorised_evaluation_equals_plain_gymnasium_episodes_from_the_same_starts(policy):
    """The evaluator steps gymnasium's CartPoleVectorEnv; each return equals that of the plain `gym.make` environment
    (with its TimeLimit) started in the same state: terminations (random net) and truncations at 500 alike."""
    torch.manual_seed(0)
    network = nn.Linear(4, 2) if policy == "random" else balancing_controller()
    batched = dqn.evaluate(network, "CartPole-v1", episodes=6, seed=7)
    starts = dqn.make_envs("CartPole-v1", 6)
    starts.reset(seed=7)
    initial = starts.unwrapped.state.T.copy()  # (6, 4) float64: the episodes' first states
    env = gym.make("CartPole-v1")
    for i in range(6):
        env.reset(seed=0)
        env.unwrapped.state = initial[i].copy()
        observation, total, done = initial[i].astype(np.float32), 0.0, False
        while not done:
            action = int(network(torch.as_tensor(observation)[None]).argmax(1))
            observation, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        assert batched[i] == total
    assert (batched == 500).all() if policy == "balancing" else (batched < 100).all()


def test_replay_buffer_add_batch_equals_one_add_per_transition():
    one, batch = ReplayBuffer(capacity=7, observation_shape=(2,), seed=0), ReplayBuffer(7, (2,), seed=0)
    rows = [(np.full(2, i, dtype=np.float32), i % 2, float(i), np.full(2, i + 1, dtype=np.float32), i % 3 == 0)
            for i in range(20)]
    for row in rows:
        one.add(*row)
    for chunk in (rows[:3], rows[3:5], rows[5:17], rows[17:]):  # wraps around; the third is longer than capacity
        batch.add_batch(*(np.array(column) for column in zip(*chunk)))
    assert (one.position, one.size) == (batch.position, batch.size)
    for name in ("observations", "actions", "rewards", "next_observations", "terminated"):
        np.testing.assert_array_equal(getattr(one, name), getattr(batch, name))


def test_target_update_copies_at_tau_one_and_moves_a_fraction_tau_otherwise():
    torch.manual_seed(0)
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in target.parameters()]
    dqn.update_target(target, online, tau=0.25)
    for old, new, theta in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(new, old + 0.25 * (theta - old))  # θ' ← θ' + τ (θ − θ')
    dqn.update_target(target, online, tau=1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), online.parameters()))


def test_a_short_training_run_learns_from_its_buffer():
    config = dqn.DQNConfig(total_timesteps=600, learning_starts=200, train_frequency=50, gradient_steps=5,
                           width=16, evaluation_frequency=600, evaluation_episodes=3)
    first = dqn.train(config, seed=3, progress=False)
    second = dqn.train(config, seed=3, progress=False)
    assert first.episode_returns and first.evaluations[0]["step"] == 600
    assert first.episode_returns == second.episode_returns  # seeded
    torch.manual_seed(3)
    before = dqn.q_network(4, 2, config)
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), first.network.parameters()))


def test_unknown_loss_is_refused_not_silently_mse():
    config = dqn.DQNConfig(total_timesteps=10, loss="hinge")
    with pytest.raises(ValueError, match="loss"):
        dqn.train(config, seed=0, progress=False)


def test_gradient_phase_reports_the_mean_td_loss_and_q_value():
    torch.manual_seed(0)
    config = dqn.DQNConfig(batch_size=4, gradient_steps=1, width=8, learning_rate=1e-9, max_grad_norm=0.0)
    network, target = dqn.q_network(4, 2, config), dqn.q_network(4, 2, config)
    buffer = ReplayBuffer(capacity=4, observation_shape=(4,), seed=0)
    for i in range(4):
        buffer.add(np.full(4, 0.1 * i, dtype=np.float32), i % 2, 1.0, np.zeros(4, dtype=np.float32), terminated=True)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.0)
    td_loss, q_values = dqn.gradient_phase(network, target, optimizer, buffer, torch.nn.functional.mse_loss, config)
    batch = ReplayBuffer(capacity=4, observation_shape=(4,), seed=0)
    for i in range(4):
        batch.add(np.full(4, 0.1 * i, dtype=np.float32), i % 2, 1.0, np.zeros(4, dtype=np.float32), terminated=True)
    sample = batch.sample(4)  # the same draw as the phase's (same seed)
    q = network(sample["observations"]).gather(1, sample["actions"][:, None]).squeeze(1)  # lr 0: unchanged
    torch.testing.assert_close(q_values, q.mean())
    torch.testing.assert_close(td_loss, ((q - 1.0) ** 2).mean())  # terminated: y = r = 1


def test_training_logs_one_update_per_gradient_phase():
    config = dqn.DQNConfig(total_timesteps=600, learning_starts=200, train_frequency=50, gradient_steps=5,
                           width=16, evaluation_frequency=0)
    result = dqn.train(config, seed=0, progress=False)
    assert [u["step"] for u in result.updates] == list(range(250, 601, 50))  # step counts transitions taken
    assert all(np.isfinite(u["td_loss"]) and np.isfinite(u["q_values"]) for u in result.updates)


def test_double_dqn_phase_targets_use_the_online_argmax_and_the_target_value():
    """With lr 0 the phase's TD loss is that of y = r + γ Q'(s', argmax_a Q(s', a)), not of r + γ max_a' Q'."""
    torch.manual_seed(0)
    config = dqn.DQNConfig(batch_size=6, gradient_steps=1, width=8, max_grad_norm=0.0, gamma=0.9, double_dqn=True)
    network, target = dqn.q_network(4, 2, config), dqn.q_network(4, 2, config)
    target.load_state_dict(network.state_dict())
    with torch.no_grad():  # Q' = −Q: the online argmax is the target network's argmin
        target[-1].weight.neg_()
        target[-1].bias.neg_()

    def filled():
        buffer = ReplayBuffer(capacity=6, observation_shape=(4,), seed=1)
        for i in range(6):
            buffer.add(np.linspace(-1, 1, 4, dtype=np.float32) * i, i % 2, 1.0,
                       np.linspace(1, -1, 4, dtype=np.float32) * (i + 1), terminated=False)
        return buffer

    optimizer = torch.optim.SGD(network.parameters(), lr=0.0)
    td_loss, _ = dqn.gradient_phase(network, target, optimizer, filled(), torch.nn.functional.mse_loss, config)
    sample = filled().sample(6)  # the phase's draw (same seed)
    with torch.no_grad():
        q = network(sample["observations"]).gather(1, sample["actions"][:, None]).squeeze(1)
        online_next, target_next = network(sample["next_observations"]), target(sample["next_observations"])
    double = 1.0 + 0.9 * target_next.gather(1, online_next.argmax(1, keepdim=True)).squeeze(1)
    plain = 1.0 + 0.9 * target_next.max(1).values
    assert not torch.allclose(double, plain)  # the two rules disagree on this batch: the test can tell them apart
    torch.testing.assert_close(td_loss, ((q - double) ** 2).mean())
    config.double_dqn = False
    td_loss, _ = dqn.gradient_phase(network, target, optimizer, filled(), torch.nn.functional.mse_loss, config)
    torch.testing.assert_close(td_loss, ((q - plain) ** 2).mean())


def test_vectorised_training_stores_each_real_transition_once_and_never_a_reset(monkeypatch):
    """7 environments side by side: every stored (s, a, r, s', terminated) is one CartPole step from s (a copy's
    autoreset step, whose s' is a fresh start, would break this), and the step count is the number stored."""
    stored = []
    add_batch = ReplayBuffer.add_batch

    def spy(self, *columns):
        stored.append([np.array(c) for c in columns])
        add_batch(self, *columns)

    monkeypatch.setattr(ReplayBuffer, "add_batch", spy)
    config = dqn.DQNConfig(total_timesteps=3000, num_envs=7, learning_starts=10**6, evaluation_frequency=0, width=8)
    result = dqn.train(config, seed=0, progress=False)
    observations, actions, rewards, next_observations, terminated = (np.concatenate(c) for c in zip(*stored))
    assert len(actions) == result.steps == 3000  # the last step stores only what the budget has left
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    for s, a, s_next, done in zip(observations, actions, next_observations, terminated):
        env.state, env.steps_beyond_terminated = s.astype(np.float64), None
        expected, _, expected_done, _, _ = env.step(int(a))
        np.testing.assert_allclose(s_next, expected, atol=1e-5)
        assert done == expected_done
    episodes = [r for _, r in result.episode_returns]
    assert (rewards == 1).all() and len(episodes) == int(terminated.sum())  # random play: no episode reaches 500
    assert result.steps - 7 * 500 < sum(episodes) <= result.steps


def test_the_judged_network_is_the_best_evaluated_one():
    config = dqn.DQNConfig(total_timesteps=4000, num_envs=4, learning_starts=500, train_frequency=64, gradient_steps=8,
                           width=16, evaluation_frequency=500, evaluation_episodes=5, stop_return=float("inf"))
    result = dqn.train(config, seed=1, progress=False)
    means = [e["mean"] for e in result.evaluations]
    assert len(means) == 8 and len(set(means)) > 1  # the evaluations differ: which one is kept matters
    k = int(np.argmax(means))
    assert (result.best_mean, result.best_step) == (means[k], result.evaluations[k]["step"])
    again = dqn.evaluate(result.network, config.env_id, 5, seed=derive_seed(1, "evaluate", k))
    assert again.mean() == result.best_mean


def test_training_stops_at_stop_return_and_records_the_first_evaluation_that_reached_target_return():
    config = dqn.DQNConfig(total_timesteps=4000, num_envs=4, learning_starts=500, train_frequency=64, gradient_steps=16,
                           target_network_frequency=64, width=32, evaluation_frequency=500, evaluation_episodes=5,
                           target_return=float("inf"), stop_return=float("inf"))
    whole = dqn.train(config, seed=1, progress=False)
    assert whole.reached_step is None and whole.steps == 4000
    means = [e["mean"] for e in whole.evaluations]
    k = next(k for k in range(1, len(means) - 1) if means[k] > max(means[:k]))  # a new best: reached first there
    config.target_return = config.stop_return = means[k]
    stopped = dqn.train(config, seed=1, progress=False)
    assert stopped.reached_step == stopped.steps == whole.evaluations[k]["step"] < 4000
    config.stop_return = float("inf")  # reaching the target alone does not stop training
    assert dqn.train(config, seed=1, progress=False).steps == 4000


def test_q_network_has_the_weights_and_outputs_of_the_mlp_it_replaces():
    config = dqn.DQNConfig(width=16, depth=3)
    torch.manual_seed(5)
    network = dqn.q_network(4, 2, config)
    torch.manual_seed(5)
    mlp = MLP(4, 2, width=16, depth=3)
    assert all(torch.equal(a, b) for a, b in zip(network.parameters(), mlp.parameters()))
    x = torch.randn(7, 4)
    torch.testing.assert_close(network(x), mlp(x), rtol=0, atol=0)
