import numpy as np
import pytest

from mllab.rl import prediction


def walk_c_d_e_right() -> prediction.Episode:
    return prediction.Episode(np.array([3, 4, 5]), np.array([0.0, 0.0, 1.0]), np.array([4, 5, 6]))


def test_td_update_by_hand():
    values = prediction.random_walk_initial_values()
    prediction.td_update(values, walk_c_d_e_right(), alpha=0.1)
    # V(C) += 0.1 (0 + 0.5 − 0.5) = 0.5; V(D) likewise; V(E) += 0.1 (1 + 0 − 0.5) = 0.55
    np.testing.assert_allclose(values, [0, 0.5, 0.5, 0.5, 0.5, 0.55, 0])


def test_mc_update_by_hand():
    values = prediction.random_walk_initial_values()
    prediction.mc_update(values, walk_c_d_e_right(), alpha=0.1)
    np.testing.assert_allclose(values, [0, 0.5, 0.5, 0.55, 0.55, 0.55, 0])  # every G_t = 1


def test_returns_discount_backwards():
    episode = prediction.Episode(np.array([0, 1, 2]), np.array([1.0, 0.0, 2.0]), np.array([1, 2, 3]))
    np.testing.assert_allclose(episode.returns(0.5), [1 + 0.25 * 2, 0.5 * 2, 2])


def test_example_6_4_batch_answers():
    episodes = prediction.example_6_4_episodes()
    mc = prediction.batch_values(episodes, "mc", np.zeros(3), alpha=1.0)
    td = prediction.batch_values(episodes, "td", np.zeros(3), alpha=0.5)
    assert mc[0] == pytest.approx(0.0, abs=1e-6) and mc[1] == pytest.approx(0.75)
    assert td[0] == pytest.approx(0.75, abs=1e-5) and td[1] == pytest.approx(0.75, abs=1e-5)


def test_random_walk_episodes_start_in_the_middle_and_pay_only_on_the_right():
    rng = np.random.default_rng(0)
    episodes = [prediction.random_walk_episode(rng) for _ in range(300)]
    assert all(e.states[0] == 3 and e.next_states[-1] in (0, 6) for e in episodes)
    assert all(e.rewards.sum() == float(e.next_states[-1] == 6) for e in episodes)
    assert 0.4 < np.mean([e.next_states[-1] == 6 for e in episodes]) < 0.6


def test_batch_td_converges_to_the_true_values_on_many_walks():
    rng = np.random.default_rng(1)
    episodes = [prediction.random_walk_episode(rng) for _ in range(2000)]
    values = prediction.batch_values(episodes, "td", prediction.random_walk_initial_values())
    assert prediction.rms_error(values) < 0.02
