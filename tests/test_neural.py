"""Neural RIFT: policies, pure losses (hand-computed), the trainer's plumbing, seeding, checkpoints, SB3 priors."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import rift_core.neural.gym_envs  # noqa: F401
from rift_core.exact.baselines import METHODS as TABULAR_METHODS
from rift_core.neural.estop import EStop, Noisy, point_nav_safety
from rift_core.neural import (METHODS, GaussianPolicy, ResidualPolicy, TrainConfig, Trainer, TwinCritic, critic_loss,
                              entropy_actor_loss, evaluate, gaussian_kl, gaussian_log_prob, load_policy,
                              rift_actor_loss, save_policy, soft_target, squashed_sample)

torch.set_num_threads(1)
SMALL = dict(total_steps=400, learning_starts=100, batch_size=32, log_every=100)


def _env():
    return EStop(gym.make("rift/PointNav-v0"), Noisy(point_nav_safety(0.1), fp=0.01, fn=0.1))


def test_zero_initialised_residual_equals_the_prior_exactly():
    torch.manual_seed(0)
    prior = GaussianPolicy(7, 2)
    policy = ResidualPolicy(prior)
    obs = torch.randn(64, 7)
    mu, log_std = policy(obs)
    mu0, log_std0 = prior(obs)
    assert torch.equal(mu, mu0) and torch.equal(log_std, log_std0)
    assert all(not p.requires_grad for p in policy.prior.parameters())


# ---- pure losses against hand-computed numbers
def test_gaussian_kl_by_hand():
    # 1-D: log(s0/s) + (s^2 + (m - m0)^2) / (2 s0^2) - 1/2 with m=1, s=1, m0=0, s0=2: log 2 + 2/8 - 1/2
    kl = gaussian_kl(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([math.log(2.0)]))
    assert float(kl) == pytest.approx(math.log(2.0) - 0.25, abs=1e-6)
    assert float(gaussian_kl(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3))) == 0.0


def test_soft_target_by_hand():
    # y = r + gamma (1 - term) (min_j q_j + bonus): (0, not terminal): 0 + 0.9 (min(2, 3) - 0.5) = 1.35;
    # (-1, terminal): -1
    y = soft_target(torch.tensor([0.0, -1.0]), torch.tensor([0.0, 1.0]), 0.9,
                    torch.tensor([[2.0, 5.0], [3.0, 4.0]]), torch.tensor([-0.5, 7.0]))
    assert y.tolist() == pytest.approx([1.35, -1.0])


def test_actor_and_critic_losses_by_hand():
    q = torch.tensor([[1.0, -2.0], [0.5, 0.0]])  # min over critics: [0.5, -2]
    # rift: mean(alpha kl - min q) = mean(0.1*[1, 3] - [0.5, -2]) = mean([-0.4, 2.3]) = 0.95
    assert float(rift_actor_loss(q, torch.tensor([1.0, 3.0]), 0.1)) == pytest.approx(0.95)
    # SAC: mean(0.2*[-1, 1] - [0.5, -2]) = mean([-0.7, 2.2]) = 0.75
    assert float(entropy_actor_loss(q, torch.tensor([-1.0, 1.0]), 0.2)) == pytest.approx(0.75)
    # critic: mean over both critics and the batch of (q - y)^2 with y = [1, -1]: (0 + 1 + 0.25 + 1) / 4
    assert float(critic_loss(q, torch.tensor([1.0, -1.0]))) == pytest.approx(0.5625)


def test_analytic_kl_matches_monte_carlo():
    """KL(pi || pi0) = E_{u ~ pi}[log pi(u) - log pi0(u)], pre-tanh; 400k samples, 5 standard errors."""
    g = torch.Generator().manual_seed(1)
    mu, log_std = torch.tensor([[0.3, -0.5]]), torch.tensor([[-0.2, 0.4]])
    mu0, log_std0 = torch.tensor([[0.0, 0.1]]), torch.tensor([[0.1, 0.0]])
    u = mu + log_std.exp() * torch.randn((400_000, 2), generator=g)
    ratio = gaussian_log_prob(u, mu, log_std) - gaussian_log_prob(u, mu0, log_std0)
    exact = float(gaussian_kl(mu, log_std, mu0, log_std0))
    assert abs(float(ratio.mean()) - exact) <= 5 * float(ratio.std()) / np.sqrt(len(ratio))


def test_squashed_log_prob_integrates_to_one():
    mu, log_std = torch.tensor([[0.4]]), torch.tensor([[-0.3]])
    a = torch.linspace(-0.999999, 0.999999, 200_001)[:, None]
    logp = gaussian_log_prob(torch.atanh(a), mu, log_std) - torch.log(1 - a[:, 0] ** 2)
    assert abs(float(torch.trapezoid(logp.exp(), a[:, 0])) - 1.0) < 1e-3
    a_s, u_s, lp = squashed_sample(mu.expand(5, 1), log_std.expand(5, 1), torch.Generator().manual_seed(0))
    torch.testing.assert_close(lp, gaussian_log_prob(u_s, mu, log_std) - torch.log(1 - a_s[:, 0] ** 2), atol=1e-4, rtol=0)


def test_twin_critic_is_two_independent_mlps():
    torch.manual_seed(0)
    critic = TwinCritic(3, 2, (5, 4))
    obs, act = torch.randn(6, 3), torch.randn(6, 2)
    q = critic(obs, act)
    for j in range(2):  # the same numbers as critic j's MLP written out
        x = torch.cat([obs, act], -1)
        for i, (w, b) in enumerate(zip(critic.weights, critic.biases)):
            x = x @ w[j] + b[j]
            x = torch.relu(x) if i < 2 else x
        torch.testing.assert_close(q[j], x[:, 0])


# ---- the method table
def test_method_names_are_the_tabular_baselines_names():
    assert tuple(METHODS) == tuple(TABULAR_METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_trainer_runs_every_method(method):
    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method=method, **SMALL)).learn()
    assert trainer.step == 400 and len(trainer.updates) == 4
    assert all(v is None or np.isfinite(v) for u in trainer.updates for v in u.values())
    assert all({"task_return", "stops", "length", "step"} <= set(e) for e in trainer.episodes)


def test_rift_moves_little_with_large_alpha():
    prior = GaussianPolicy(7, 2)
    trainer = Trainer(_env(), prior, TrainConfig(method="rift", alpha=100.0, **SMALL))
    obs = torch.randn(16, 7)
    with torch.no_grad():
        assert float(gaussian_kl(*trainer.actor(obs), *prior(obs)).max()) == 0.0
    assert trainer.learn().updates[-1]["kl"] < 1e-2


def test_kl_budget_adapts_alpha():
    cfg = TrainConfig(method="rift", alpha=1e-3, kl_budget=1e-6, alpha_lr=0.5, **SMALL)
    assert Trainer(_env(), GaussianPolicy(7, 2), cfg).learn().alpha > 1e-3


def test_updates_per_step_sets_the_number_of_gradient_updates():
    counts = {}
    for utd in (0.5, 2.0):
        trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="filter", updates_per_step=utd, **SMALL))
        n = 0
        original = trainer._update

        def counted():
            nonlocal n
            n += 1
            original()

        trainer._update = counted
        trainer.learn()
        counts[utd] = n
    assert counts == {0.5: 150, 2.0: 602}  # updates after each of steps 100..400: 301 of them


# ---- seeding and reproducibility
def test_runs_are_reproducible_and_seeds_differ():
    prior = GaussianPolicy(7, 2)

    def episodes(method, seed):
        cfg = TrainConfig(method=method, seed=seed, **SMALL)
        return Trainer(_env(), prior, cfg).learn().episodes

    for method in ("avoid", "oracle", "rift"):  # avoid and oracle start with uniform warm-up actions
        assert episodes(method, 3) == episodes(method, 3)
    assert episodes("avoid", 3) != episodes("avoid", 4)


def test_estop_gives_the_supervisor_its_own_stream():
    class Recorder(Noisy):
        def reset(self, rng):
            super().reset(rng)
            self.first = rng.uniform()

    sup = Recorder(point_nav_safety(0.1), fp=0.5, fn=0.5)
    env = EStop(gym.make("rift/PointNav-v0"), sup)
    env.reset(seed=7)
    assert sup.first != np.random.default_rng(7).uniform()  # not the environment's own stream
    env.reset(seed=7)
    first = sup.first
    env.reset(seed=7)
    assert sup.first == first


def test_predict_is_batched_and_does_not_change_training():
    cfg, prior = TrainConfig(method="rift", **SMALL), GaussianPolicy(7, 2)
    a, b = Trainer(_env(), prior, cfg), Trainer(_env(), prior, cfg)
    actions, state = a.predict(np.zeros((5, 7), np.float32))
    assert actions.shape == (5, 2) and state is None and np.abs(actions).max() <= 1
    assert a.predict(np.zeros(7, np.float32), deterministic=True)[0].shape == (2,)
    assert a.learn().episodes == b.learn().episodes


# ---- checkpoints
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path):
    cfg = TrainConfig(method="rift", total_steps=900, learning_starts=100, batch_size=32, log_every=100)
    prior = GaussianPolicy(7, 2)
    whole = Trainer(_env(), prior, cfg).learn()
    first = Trainer(_env(), prior, cfg)
    first.learn(steps=450, checkpoint=tmp_path / "c.pt", checkpoint_every=100)  # saved at an episode end
    resumed = Trainer.load(tmp_path / "c.pt", _env())
    assert 0 < resumed.step <= 450
    resumed.learn()
    assert resumed.episodes == whole.episodes and resumed.updates == whole.updates
    for (k, v), w in zip(whole.actor.state_dict().items(), resumed.actor.state_dict().values()):
        assert torch.equal(v, w), k


def test_checkpoints_load_with_weights_only_and_errors_name_the_file(tmp_path):
    import pickle

    cfg = TrainConfig(method="rift", **SMALL)
    Trainer(_env(), GaussianPolicy(7, 2), cfg).learn(checkpoint=tmp_path / "c.pt", checkpoint_every=100)
    torch.load(tmp_path / "c.pt", weights_only=True)  # plain tensors and values only

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="evil.pt: not a readable rift_core checkpoint"):
        Trainer.load(tmp_path / "evil.pt", _env())
    (tmp_path / "cut.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.pt"):
        Trainer.load(tmp_path / "cut.pt", _env())
    with pytest.raises(ValueError, match=r"config differs in total_steps: checkpoint 400 vs 999"):
        Trainer.load(tmp_path / "c.pt", _env(), config=TrainConfig(method="rift", **{**SMALL, "total_steps": 999}))
    with pytest.raises(ValueError, match="prior passed in differs"):
        Trainer.load(tmp_path / "c.pt", _env(), prior=GaussianPolicy(7, 2))


def test_exported_policy_loads_without_the_trainer(tmp_path):
    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="rift", **SMALL)).learn()
    save_policy(trainer, tmp_path / "pi.pt")
    assert (tmp_path / "pi.pt").stat().st_size < 200_000
    policy = load_policy(tmp_path / "pi.pt")
    obs = np.random.default_rng(0).normal(size=(8, 7)).astype(np.float32)
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], trainer.predict(obs, deterministic=True)[0])
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ValueError, match="junk.pt"):
        load_policy(tmp_path / "junk.pt")


# ---- failing closed and loud
def test_trainer_raises_on_non_finite_observations():
    class NaNAfter(gym.Wrapper):
        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            self.n = getattr(self, "n", 0) + 1
            return (obs * np.nan if self.n == 50 else obs), r, term, trunc, info

    env = EStop(NaNAfter(gym.make("rift/PointNav-v0")), point_nav_safety(0.1))
    with pytest.raises(FloatingPointError, match="step 49: non-finite observation"):
        Trainer(env, GaussianPolicy(7, 2), TrainConfig(method="rift", **SMALL)).learn()


@pytest.mark.parametrize("method", ["rift", "avoid"])
def test_a_non_finite_loss_raises_before_any_weight_moves(method):
    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method=method, **SMALL))
    trainer.learn(steps=150)  # past learning_starts: the buffer holds a batch
    with torch.no_grad():
        trainer.critic.weights[1][0, 0, 0] = float("nan")
    before = {k: v.clone() for k, v in trainer.actor.state_dict().items()}
    critic_before = [p.clone() for p in trainer.critic.parameters()]
    with pytest.raises(FloatingPointError, match=r"step 150: non-finite critic loss nan"):
        trainer._update()
    assert all(torch.equal(v, trainer.actor.state_dict()[k]) for k, v in before.items())
    assert all(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
               for a, b in zip(critic_before, trainer.critic.parameters()))


@pytest.mark.parametrize("field, value, message", [
    ("method", "dagger", "method is 'dagger'"), ("alpha", 0.0, "alpha is 0.0"), ("gamma", 1.0, "gamma is 1.0"),
    ("total_steps", 0, "total_steps is 0"), ("hidden", (64, 0), r"hidden is \(64, 0\)"),
    ("tau", 1.5, "tau is 1.5"), ("buffer_size", 16, "buffer_size is 16, smaller than batch_size"),
    ("seed", -1, "seed is -1"), ("seed", 1.5, "seed is 1.5"), ("kl_budget", float("inf"), "kl_budget is inf"),
    ("total_steps", True, "total_steps is True, a boolean"), ("alpha", True, "alpha is True, a boolean"),
    ("kl_budget", 0.1, "kl_budget is 0.1: a KL budget is for method 'rift' only"),
    ("compile", 1, "compile is 1"),
])
def test_bad_configs_name_the_field(field, value, message):
    kwargs = {field: value, "batch_size": 32} if field == "buffer_size" else {field: value}
    if field == "kl_budget" and value == 0.1:
        kwargs["method"] = "avoid"
    with pytest.raises(ValueError, match=message) as info:
        TrainConfig(**kwargs)
    assert info.value.field == field


def test_config_accepts_numpy_integers():
    cfg = TrainConfig(seed=np.int64(3), total_steps=np.int32(10), hidden=(np.int64(8),))
    assert cfg.seed == 3 and type(cfg.seed) is int and cfg.hidden == (8,)


def test_trainer_requires_a_prior_for_rift_and_a_rescaled_env():
    with pytest.raises(ValueError, match="needs a prior"):
        Trainer(_env(), None, TrainConfig(method="rift"))
    with pytest.raises(ValueError, match="RescaleAction"):
        Trainer(EStop(gym.make("InvertedPendulum-v5"), point_nav_safety()), None, TrainConfig(method="avoid"))


# ---- vector environments
def test_trainer_accepts_a_same_step_vector_env():
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    envs = SyncVectorEnv([_env for _ in range(3)], autoreset_mode=AutoresetMode.SAME_STEP)
    trainer = Trainer(envs, GaussianPolicy(7, 2), TrainConfig(method="rift", **{**SMALL, "total_steps": 600})).learn()
    assert trainer.step == 600 and trainer.buffer.size == 600 and trainer.episodes
    with pytest.raises(ValueError, match="SAME_STEP"):
        Trainer(SyncVectorEnv([_env]), GaussianPolicy(7, 2), TrainConfig(method="rift"))


# ---- evaluation and logs
def test_evaluate_reports_per_episode_results_and_the_unsupervised_return():
    env = _env()
    policy = GaussianPolicy(7, 2)
    ev = evaluate(policy, env, episodes=3, seed=5, unsupervised=True)
    assert len(ev.task_return) == len(ev.stops) == len(ev.length) == len(ev.unsupervised_return) == 3
    assert all(len(r) == s for r, s in zip(ev.stop_reasons, ev.stops))
    again = evaluate(policy, env, episodes=3, seed=5)
    np.testing.assert_array_equal(ev.task_return, again.task_return)
    with pytest.raises(ValueError, match="episodes is 0"):
        evaluate(policy, env, episodes=0)


def test_learn_writes_csv_logs_calls_back_and_can_stop(tmp_path):
    import csv

    seen = []
    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="rift", **SMALL))
    trainer.learn(log_dir=tmp_path, callback=lambda t: seen.append(t.step) or t.step < 300, callback_every=100)
    assert seen == [100, 200, 300] and trainer.step == 300
    rows = list(csv.DictReader(open(tmp_path / "progress.csv")))
    assert [int(r["step"]) for r in rows] == [100, 200, 300] and rows[-1]["kl"] != ""


# ---- Stable-Baselines3 priors
def test_prior_from_sb3_has_the_same_pre_tanh_law():
    from stable_baselines3 import SAC

    from rift_core.neural import prior_from_sb3

    env = gym.wrappers.RescaleAction(gym.make("InvertedPendulum-v5"), -1.0, 1.0)
    model = SAC("MlpPolicy", env, policy_kwargs={"net_arch": [32, 16]}, device="cpu", seed=0)
    with torch.no_grad():  # push SB3's log-std head past its clamp on some inputs
        model.actor.log_std.bias.fill_(-15.0)
        model.actor.log_std.weight.mul_(40.0)
    prior = prior_from_sb3(model)
    obs = torch.as_tensor(np.random.default_rng(0).normal(scale=3.0, size=(256, 4)), dtype=torch.float32)
    with torch.no_grad():
        mu_sb3, log_std_sb3, _ = model.actor.get_action_dist_params(obs)
        mu, log_std = prior(obs)
    assert (log_std_sb3 <= -19.999).any()  # the clamp is exercised
    torch.testing.assert_close(mu, mu_sb3, rtol=0, atol=0)
    torch.testing.assert_close(log_std, log_std_sb3, rtol=0, atol=0)
    mu_r, log_std_r = ResidualPolicy(prior)(obs)  # the residual starts exactly at the SB3 prior, clamp included
    assert torch.equal(mu_r, mu) and torch.equal(log_std_r, log_std)


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="rift", **SMALL)).learn(log_dir=tmp_path)
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_critic_check_compares_with_monte_carlo_values():
    from rift_core.neural.gym_envs import PointNavEnv
    from rift_core.neural.diagnostics import critic_check

    trainer = Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="rift", **SMALL)).learn()
    env = EStop(PointNavEnv(max_steps=10_000), point_nav_safety(0.1))
    check = critic_check(trainer, env, states=4, rollouts=3, horizon=50, seed=1)
    s = check.summary()
    assert s["states"] == 4 and np.all(check.mc_data <= 0) and np.all(check.mc_data >= -1)
    assert np.all(check.mc_far <= 0) and np.all(check.nn_far >= 0)
    with pytest.raises(ValueError, match="no critic"):
        critic_check(Trainer(_env(), GaussianPolicy(7, 2), TrainConfig(method="prior", **SMALL)), env)
    with pytest.raises(ValueError, match="states is 0"):
        critic_check(trainer, env, states=0)


def test_compiled_update_agrees_with_eager():
    # TrainConfig.compile runs the same two halves through torch.compile: the same arithmetic up to rounding
    prior = GaussianPolicy(7, 2)

    def trained(compile):
        cfg = TrainConfig(method="rift", hidden=(16, 16), compile=compile, **{**SMALL, "total_steps": 110})
        return Trainer(_env(), prior, cfg).learn()

    eager, compiled = trained(False), trained(True)
    assert compiled.step == eager.step == 110
    for net in ("actor", "critic", "target"):
        for (name, p), q in zip(getattr(eager, net).named_parameters(), getattr(compiled, net).parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=f"{net}.{name}")
    assert not torch.equal(eager.critic.weights[1], TwinCritic(9, 2, (16, 16)).weights[1])  # it did train


@pytest.mark.parametrize("method", ["rift", "finetune", "avoid"])
@pytest.mark.parametrize("bf16", [False, True])
def test_update_halves_compile_without_graph_breaks(method, bf16):
    cfg = TrainConfig(method=method, hidden=(8, 8), bf16=bf16, **{**SMALL, "total_steps": 100})
    trainer = Trainer(_env(), GaussianPolicy(7, 2), cfg).learn()
    b, eps, alpha = trainer.buffer.sample(32, np.random.default_rng(0)), torch.randn(32, 2), trainer.log_alpha.exp()
    critic = torch._dynamo.explain(trainer._critic_grads)(b, eps, alpha)
    actor = torch._dynamo.explain(trainer._actor_grads)(b, eps, alpha, trainer._critic_grads(b, eps, alpha)[2])
    assert (critic.graph_break_count, actor.graph_break_count) == (0, 0), critic.break_reasons + actor.break_reasons
