import gymnasium as gym
import numpy as np
import torch
from torch import nn

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


def test_batched_evaluation_equals_plain_gymnasium_episodes():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(4, 2))
    batched = dqn.evaluate(network, "CartPole-v1", episodes=4, seed=7)
    env = gym.make("CartPole-v1")
    for i in range(4):
        observation, _ = env.reset(seed=7 + i)
        total, done = 0.0, False
        while not done:
            action = int(network(torch.as_tensor(observation)[None]).argmax(1))
            observation, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        assert batched[i] == total


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
    import pytest

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
    assert [u["step"] for u in result.updates] == list(range(250, 600, 50))
    assert all(np.isfinite(u["td_loss"]) and np.isfinite(u["q_values"]) for u in result.updates)


def test_double_dqn_phase_targets_use_the_online_argmax_and_the_target_value():
    """With lr 0 the phase's TD loss is that of y = r + γ Q'(s', argmax_a Q(s', a)), not of r + γ max_a' Q'."""
    torch.manual_seed(0)
    config = dqn.DQNConfig(batch_size=6, gradient_steps=1, width=8, max_grad_norm=0.0, gamma=0.9, double_dqn=True)
    network, target = dqn.q_network(4, 2, config), dqn.q_network(4, 2, config)
    target.load_state_dict(network.state_dict())
    with torch.no_grad():  # Q' = −Q: the online argmax is the target network's argmin
        target.head.weight.neg_()
        target.head.bias.neg_()

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
