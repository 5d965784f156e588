import gymnasium as gym
import numpy as np
import pytest

from mllab.rl import tabular


def chain_model(horizon=None) -> tabular.TabularModel:
    """States 0, 1 and terminal 2. From 0: a0 -> 1 (r 0), a1 -> end (r 1). From 1: a0 -> end (r 2), a1 -> 0 (r 0)."""
    next_state = np.array([[[1], [2]], [[2], [0]], [[2], [2]]])
    reward = np.array([[[0.0], [1.0]], [[2.0], [0.0]], [[0.0], [0.0]]])
    terminated = np.array([[[False], [True]], [[True], [False]], [[True], [True]]])
    return tabular.TabularModel(np.ones((3, 2, 1)), next_state, reward, terminated, np.array([1.0, 0, 0]), horizon)


def test_value_iteration_solves_the_chain_by_hand():
    values, q = tabular.value_iteration(chain_model(), gamma=0.9)
    # V(1) = 2 (exit right away); V(0) = max(1, 0.9 · 2) = 1.8; Q(1, a1) = 0.9 · V(0) = 1.62
    np.testing.assert_allclose(values, [1.8, 2.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(q, [[1.8, 1.0], [2.0, 1.62], [0.0, 0.0]], atol=1e-9)


def test_finite_horizon_value_iteration_and_exact_policy_return():
    model = chain_model(horizon=1)
    values, _ = tabular.value_iteration(model, gamma=1.0, horizon=1)
    np.testing.assert_allclose(values[:2], [1.0, 2.0])  # one step left: take the immediate reward
    assert tabular.policy_return(model, np.array([0, 0, 0])) == 0.0  # reaches state 1, then time is up
    assert tabular.policy_return(model, np.array([0, 0, 0]), horizon=2) == 2.0


def test_frozenlake_optimum_from_the_transition_table():
    model = tabular.transition_model(gym.make("FrozenLake-v1"))
    assert model.probability.shape == (16, 4, 3) and model.horizon == 100
    np.testing.assert_allclose(model.probability.sum(-1), 1.0)
    values, _ = tabular.value_iteration(model, gamma=1.0, horizon=model.horizon)
    assert abs(model.initial @ values - 0.7442) < 5e-4  # the known 100-step optimum of the slippery 4×4 lake


def test_one_q_learning_update_by_hand():
    q = np.zeros((1, 3, 2))
    q[0, 1] = [1.0, 3.0]
    one = lambda x: np.array([x])
    tabular.q_learning_update(q, one(0), one(0), one(0), one(1.0), one(1), one(False), alpha=0.5, gamma=0.9)
    assert q[0, 0, 0] == pytest.approx(0.5 * (1 + 0.9 * 3))  # target r + γ max_a' Q(s', a') = 3.7
    tabular.q_learning_update(q, one(0), one(0), one(1), one(1.0), one(1), one(True), alpha=0.5, gamma=0.9)
    assert q[0, 0, 1] == pytest.approx(0.5)  # terminated: the target is r alone


def test_one_sarsa_update_by_hand():
    q = np.zeros((1, 3, 2))
    q[0, 1] = [1.0, 3.0]
    one = lambda x: np.array([x])
    tabular.sarsa_update(q, one(0), one(0), one(0), one(1.0), one(1), one(0), one(False), alpha=0.5, gamma=0.9)
    assert q[0, 0, 0] == pytest.approx(0.5 * (1 + 0.9 * 1))  # bootstraps on the next action taken, a' = 0


def test_updates_to_one_entry_in_a_batch_are_averaged_and_runs_are_separate():
    q = np.zeros((2, 2, 1))
    n = np.array
    tabular.q_learning_update(q, n([0, 0, 1]), n([0, 0, 0]), n([0, 0, 0]), n([1.0, 3.0, 5.0]), n([1, 1, 1]),
                              n([True, True, True]), alpha=0.5, gamma=1.0)
    assert q[0, 0, 0] == pytest.approx(0.5 * 2.0) and q[1, 0, 0] == pytest.approx(0.5 * 5.0)


def test_batched_env_truncates_at_the_time_limit_and_restarts():
    env = tabular.BatchedEnv(chain_model(horizon=3), runs=1, envs_per_run=2, rng=np.random.default_rng(0))
    loop = np.array([0, 0])  # 0 -> 1 with a0, then 1 -> 0 with a1: never terminates
    _, _, terminated, truncated = env.step(loop)
    assert env.state.tolist() == [1, 1] and not truncated.any()
    env.step(np.array([1, 1]))
    _, _, terminated, truncated = env.step(loop)
    assert truncated.all() and not terminated.any() and env.state.tolist() == [0, 0]


def test_q_learning_finds_the_optimal_policy_of_the_chain():
    model = chain_model(horizon=10)
    result = tabular.train(model, "q-learning", runs=2, envs_per_run=4, steps=400, alpha=0.5, epsilon=0.3,
                           gamma=0.9, seed=0)
    _, q_star = tabular.value_iteration(model, gamma=0.9)
    np.testing.assert_allclose(result.q[:, :2], np.broadcast_to(q_star[:2], (2, 2, 2)), atol=0.05)


def test_sarsa_counts_episodes_per_run():
    model = chain_model(horizon=10)
    result = tabular.train(model, "sarsa", runs=3, episodes=7, alpha=0.5, epsilon=0.1, gamma=1.0, seed=1)
    assert [len(r) for r in result.episode_returns] == [7, 7, 7]
    assert all(r in (0.0, 1.0, 2.0) for run in result.episode_returns for r in run)


def test_epsilon_greedy_breaks_ties_at_random_and_explores():
    rng = np.random.default_rng(0)
    actions = tabular.epsilon_greedy(np.zeros((2000, 4)), 0.0, rng)
    assert set(actions.tolist()) == {0, 1, 2, 3}
    q = np.tile([0.0, 1.0, 0.0, 0.0], (4000, 1))
    share = (tabular.epsilon_greedy(q, 0.2, rng) != 1).mean()
    assert abs(share - 0.2 * 3 / 4) < 0.03


def test_exact_policy_evaluation_of_the_chain_by_hand():
    model = chain_model()
    values = tabular.policy_evaluation(model, np.array([0, 0, 0]), gamma=0.9)
    np.testing.assert_allclose(values, [0.9 * 2.0, 2.0, 0.0])  # 0 -a0-> 1 -a0-> end with r = 2
    loop = tabular.policy_evaluation(model, np.array([0, 1, 0]), gamma=0.9)
    np.testing.assert_allclose(loop[:2], [0.0, 0.0])  # 0 -> 1 -> 0 -> ... forever, never rewarded


def test_exact_policy_evaluation_equals_a_monte_carlo_estimate_on_frozenlake():
    model = tabular.transition_model(gym.make("FrozenLake-v1"))
    policy = np.random.default_rng(0).integers(4, size=model.n_states)
    policy[[0, 4, 8, 9, 13, 14]] = [0, 0, 3, 1, 2, 1]  # a policy that sometimes reaches the goal
    exact = float(model.initial @ tabular.policy_evaluation(model, policy, gamma=0.95))
    sampled = tabular.sampled_return(model, policy, 0.95, episodes=20_000, max_steps=400,
                                     rng=np.random.default_rng(1))
    standard_error = sampled.std() / np.sqrt(sampled.size)
    assert exact > 0.02  # not a trivial zero-vs-zero agreement
    assert abs(sampled.mean() - exact) < 4 * standard_error


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "Taxi-v4"])
def test_every_policy_is_at_most_optimal_and_the_optimal_greedy_policy_attains_v_star(env_id):
    model = tabular.transition_model(gym.make(env_id))
    optimal, q_star = tabular.value_iteration(model, gamma=0.99, tolerance=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        values = tabular.policy_evaluation(model, rng.integers(model.n_actions, size=model.n_states), gamma=0.99)
        assert np.all(values <= optimal + 1e-8)
    np.testing.assert_allclose(tabular.policy_evaluation(model, q_star.argmax(1), gamma=0.99), optimal, atol=1e-6)


def test_policy_evaluation_refuses_gamma_one():
    with pytest.raises(ValueError, match="gamma"):
        tabular.policy_evaluation(chain_model(), np.array([0, 0, 0]), gamma=1.0)
