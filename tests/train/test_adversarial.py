"""The alternating loop: no gradient leaks between the players, bit-exact resume, bad input, non-finite losses."""

import pytest
import torch

from mllab.core.errors import BadInput, TrainingError
from mllab.generative.data import ring_mixture
from mllab.generative.objectives import OBJECTIVES, make_objective
from mllab.models.gan import MLPCritic, MLPGenerator
from mllab.train.adversarial import critic_step, fit_adversarial, generator_step


def pair(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(2, 2, width=16, depth=2), MLPCritic(2, width=16, depth=2)


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def same(module, saved):
    return all(torch.equal(p, q) for p, q in zip(module.parameters(), saved))


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_generator_step_leaves_the_critic_bit_identical_and_vice_versa(name):
    generator, critic = pair()
    objective = make_objective(name)
    g_opt, d_opt = objective.make_optimizer(generator.parameters(), 1e-2), objective.make_optimizer(critic.parameters(), 1e-2)
    z, real = torch.randn(8, 2), torch.randn(8, 2)
    critic_before, generator_before = snapshot(critic), snapshot(generator)
    generator_step(generator, critic, objective, g_opt, z)
    assert same(critic, critic_before) and all(p.grad is None for p in critic.parameters())
    assert not same(generator, generator_before)  # the step did move G
    assert all(p.requires_grad for p in critic.parameters())  # D trainable again afterwards
    generator_before, critic_before = snapshot(generator), snapshot(critic)
    g_opt.zero_grad(set_to_none=True)
    critic_step(generator, critic, objective, d_opt, real, z, torch.Generator().manual_seed(0))
    assert same(generator, generator_before)
    assert all(p.grad is None for p in generator.parameters())  # no gradient reached G
    assert not same(critic, critic_before)


def run(steps, path=None, resume=False, max_steps=None, name="wgan-gp"):
    generator, critic = pair()
    data = ring_mixture().sample(512, torch.Generator().manual_seed(1))
    state = fit_adversarial(generator, critic, make_objective(name), data, steps=steps, batch_size=16, n_critic=2,
                            seed=3, checkpoint_path=path, checkpoint_every=2, resume=resume, max_steps=max_steps,
                            log_every=2)
    return generator, critic, state


@pytest.mark.parametrize("name", ["wgan-gp", "wgan"])
def test_resume_is_bit_exact_on_cpu(tmp_path, name):
    g_full, d_full, s_full = run(6, name=name)
    path = tmp_path / "adv.pt"
    run(6, path, max_steps=3, name=name)  # stopped after 3 of 6 steps (checkpoint at step 3, the last of this call)
    torch.manual_seed(999)  # the global RNG is not the training's: resume must not depend on it
    g_res, d_res, s_res = run(6, path, resume=True, name=name)
    assert s_res.step == 6
    assert same(g_res, snapshot(g_full)) and same(d_res, snapshot(d_full))
    assert s_res.history[-1] == s_full.history[-1]  # the losses of steps 5-6, read at step 6


def test_history_rows_and_evaluate():
    generator, critic = pair()
    data = ring_mixture().sample(256)
    calls = []
    state = fit_adversarial(generator, critic, make_objective("gan"), data, steps=4, batch_size=8, log_every=2,
                            evaluate=lambda g, d: calls.append(torch.is_grad_enabled()) or {"x": 1.0})
    assert [r["step"] for r in state.history] == [0, 2, 4] and calls == [False, False, False]
    assert "critic_loss" in state.history[1] and "critic_loss" not in state.history[0]


def test_non_finite_loss_names_the_steps():
    generator, critic = pair()
    data = torch.full((16, 2), float("nan"))
    with pytest.raises(TrainingError, match="steps 1 to 2"):
        fit_adversarial(generator, critic, make_objective("lsgan"), data, steps=2, batch_size=4)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_critic": 0}, "n_critic"), ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(kwargs, fragment):
    generator, critic = pair()
    args = {"steps": 2, "batch_size": 4, **kwargs}
    with pytest.raises(BadInput, match=fragment) as info:
        fit_adversarial(generator, critic, make_objective("gan"), torch.zeros(8, 2), **args)
    assert "\n" not in str(info.value)
