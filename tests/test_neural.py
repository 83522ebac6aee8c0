"""Neural RIFT: residual policies, the closed-form KL, and the trainer's plumbing."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import rift_core.gym_envs  # noqa: F401
from rift_core.estop import EStop, Noisy, point_nav_safety
from rift_core.neural import (GaussianPolicy, ResidualPolicy, TrainConfig, Trainer, gaussian_kl, gaussian_log_prob,
                              squashed_sample)

torch.set_num_threads(1)


def _env():
    return EStop(gym.make("rift/PointNav-v0"), Noisy(point_nav_safety(0.1), fp=0.0, fn=0.1))


def test_zero_initialised_residual_equals_the_prior_exactly():
    torch.manual_seed(0)
    prior = GaussianPolicy(7, 2)
    policy = ResidualPolicy(prior, 7)
    obs = torch.randn(64, 7)
    mu, log_std = policy(obs)
    mu0, log_std0 = prior(obs)
    assert torch.equal(mu, mu0) and torch.equal(log_std, log_std0)
    assert all(not p.requires_grad for p in policy.prior.parameters())


def test_analytic_kl_matches_monte_carlo():
    """KL(pi || pi0) = E_{u ~ pi}[log pi(u) - log pi0(u)], pre-tanh; 400k samples, 5 standard errors."""
    g = torch.Generator().manual_seed(1)
    mu, log_std = torch.tensor([[0.3, -0.5]]), torch.tensor([[-0.2, 0.4]])
    mu0, log_std0 = torch.tensor([[0.0, 0.1]]), torch.tensor([[0.1, 0.0]])
    u = mu + log_std.exp() * torch.randn((400_000, 2), generator=g, dtype=torch.float64).float()
    ratio = gaussian_log_prob(u, mu, log_std) - gaussian_log_prob(u, mu0, log_std0)
    exact = float(gaussian_kl(mu, log_std, mu0, log_std0))
    assert abs(float(ratio.mean()) - exact) <= 5 * float(ratio.std()) / np.sqrt(len(ratio))


def test_squashed_log_prob_integrates_to_one():
    """The tanh-corrected density of a = tanh(u) integrates to 1 on (-1, 1) (1-D, trapezoid rule)."""
    mu, log_std = torch.tensor([[0.4]]), torch.tensor([[-0.3]])
    a = torch.linspace(-0.999999, 0.999999, 200_001)[:, None]
    u = torch.atanh(a)
    logp = gaussian_log_prob(u, mu, log_std) - torch.log(1 - a[:, 0] ** 2)
    assert abs(float(torch.trapezoid(logp.exp(), a[:, 0])) - 1.0) < 1e-3
    # and squashed_sample's log-prob agrees with that density at its samples
    a_s, u_s, lp = squashed_sample(mu.expand(5, 1), log_std.expand(5, 1), torch.Generator().manual_seed(0))
    direct = gaussian_log_prob(u_s, mu, log_std) - torch.log(1 - a_s[:, 0] ** 2)
    torch.testing.assert_close(lp, direct, atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", ["prior", "rift", "avoid", "finetune", "filter", "oracle"])
def test_trainer_smoke(method):
    torch.manual_seed(0)
    prior = GaussianPolicy(7, 2)
    trainer = Trainer(_env(), prior, TrainConfig(method=method, total_steps=400, learning_starts=100, batch_size=32))
    trainer.train(log_every=100)
    assert trainer.step == 400 and (trainer.updates or method == "prior")
    assert all(np.isfinite(v) for u in trainer.updates for v in u.values())
    assert all({"task_return", "stops", "length", "step"} <= set(e) for e in trainer.episodes)


def test_rift_starts_at_the_prior_and_moves_little_with_large_alpha():
    torch.manual_seed(0)
    prior = GaussianPolicy(7, 2)
    trainer = Trainer(_env(), prior, TrainConfig(method="rift", alpha=100.0, total_steps=300, learning_starts=50, batch_size=32))
    obs = torch.randn(16, 7)
    with torch.no_grad():
        assert float(gaussian_kl(*trainer.actor(obs), *prior(obs)).max()) == 0.0
    trainer.train(log_every=50)
    assert trainer.updates[-1]["kl"] < 1e-2


def test_kl_budget_adapts_alpha():
    torch.manual_seed(0)
    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="rift", alpha=1e-3, kl_budget=1e-6, alpha_lr=0.5,
                                                               total_steps=300, learning_starts=50, batch_size=32))
    trainer.train(log_every=10)
    assert trainer.alpha > 1e-3  # the KL exceeded its tiny budget, so alpha rose


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    prior = GaussianPolicy(7, 2)
    cfg = TrainConfig(method="rift", total_steps=300, learning_starts=50, batch_size=32)
    a = Trainer(_env(), prior, cfg).train()
    a.save(tmp_path / "ckpt.pt")
    b = Trainer(_env(), prior, cfg).load(tmp_path / "ckpt.pt")
    for (k, v), (_, w) in zip(a.actor.state_dict().items(), b.actor.state_dict().items()):
        assert torch.equal(v, w), k
    assert b.step == a.step and b.episodes == a.episodes and np.array_equal(b.buffer["obs"][: b.size], a.buffer["obs"][: a.size])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    b.train(steps=50)  # resumes
    assert b.step == 350
    with pytest.raises(ValueError, match="config differs"):
        Trainer(_env(), prior, TrainConfig(method="rift", total_steps=999)).load(tmp_path / "ckpt.pt")


@pytest.mark.parametrize("field, value, message", [
    ("method", "dagger", "method is 'dagger'"), ("alpha", 0.0, "alpha is 0.0"), ("gamma", 1.0, "gamma is 1.0"),
    ("total_steps", 0, "total_steps is 0"), ("hidden", (64, 0), r"hidden is \(64, 0\)"),
    ("kl_budget", 0.1, "kl_budget is 0.1"),
])
def test_bad_configs_name_the_field(field, value, message):
    kwargs = {field: value}
    if field == "kl_budget":
        kwargs["method"] = "avoid"
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_trainer_requires_a_prior_for_rift():
    with pytest.raises(ValueError, match="needs a prior"):
        Trainer(_env(), None, TrainConfig(method="rift"))
