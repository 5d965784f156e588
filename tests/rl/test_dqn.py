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
