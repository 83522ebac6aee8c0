"""Baselines: definitions checked by hand and against each other."""

import numpy as np
import pytest

from rift_core import StopSupervisor, baselines, evaluate_policy, supervisors, tabular_envs
from rift_core.exact.planning import policy_iteration


@pytest.fixture
def corridor_setup():
    task = tabular_envs.cliff_corridor(length=6, p_fall=0.3, gamma=0.95)
    sup = supervisors.noisy(supervisors.safety(task.mdp, task.danger), fp=0.03, fn=0.1).exempting(task.noop)
    pi0 = np.tile([0.6, 0.15, 0.25], (task.mdp.n_states, 1))
    return task, sup, pi0


def test_filter_formula(corridor_setup):
    task, sup, pi0 = corridor_setup
    pi = baselines.filter_policy(task.mdp, sup, pi0)
    w = pi0[0] * (1 - sup.beta[0])
    np.testing.assert_allclose(pi[0], w / w.sum(), rtol=1e-14)


def test_filter_keeps_prior_where_everything_is_stopped():
    mdp = tabular_envs.random_mdp(2, 2, seed=0)
    sup = StopSupervisor(np.array([[1.0, 1.0], [0.5, 0.0]]))
    pi0 = np.array([[0.3, 0.7], [0.5, 0.5]])
    pi = baselines.filter_policy(mdp, sup, pi0)
    np.testing.assert_array_equal(pi[0], pi0[0])
    np.testing.assert_allclose(pi[1], [1 / 3, 2 / 3])


def test_oracle_is_an_upper_bound(corridor_setup):
    task, sup, pi0 = corridor_setup
    best = evaluate_policy(task.mdp, sup, baselines.oracle(task.mdp, sup)).task_return
    for name, method in baselines.METHODS.items():
        pi = method(task.mdp, sup, pi0)
        assert evaluate_policy(task.mdp, sup, pi).task_return <= best + 1e-12, name


def test_oracle_matches_brute_force():
    """On a 3-state, 2-action MDP, policy iteration equals the best of all 8 deterministic policies."""
    mdp = tabular_envs.random_mdp(3, 2, gamma=0.8, seed=11)
    sup = StopSupervisor(np.random.default_rng(12).uniform(0, 0.5, size=(3, 2)))
    values = []
    for code in range(8):
        pi = np.zeros((3, 2))
        pi[np.arange(3), [(code >> k) & 1 for k in range(3)]] = 1.0
        values.append(evaluate_policy(mdp, sup, pi).task_return)
    got = evaluate_policy(mdp, sup, baselines.oracle(mdp, sup)).task_return
    assert got == pytest.approx(max(values), abs=1e-12)


def test_finetune_improves_stop_value_and_keeps_support(corridor_setup):
    task, sup, pi0 = corridor_setup
    pi0 = pi0.copy()
    pi0[:, 2] = 0.0
    pi0 /= pi0.sum(axis=1, keepdims=True)
    J = [evaluate_policy(task.mdp, sup, baselines.finetune(task.mdp, sup, pi0, steps=k)).stop_value for k in (0, 5, 50)]
    assert J[0] == pytest.approx(evaluate_policy(task.mdp, sup, pi0).stop_value)
    assert J[0] < J[1] < J[2]
    assert np.all(baselines.finetune(task.mdp, sup, pi0, steps=20)[:, 2] == 0.0)


def test_finetune_gradient_matches_finite_differences():
    """The update direction y pi (Q - V) is the exact gradient of J_I in the logits."""
    mdp = tabular_envs.random_mdp(3, 2, gamma=0.9, seed=5)
    sup = StopSupervisor(np.random.default_rng(6).uniform(0, 0.5, size=(3, 2)))
    theta = np.random.default_rng(7).normal(size=(3, 2))

    def J(th):
        pi = np.exp(th - th.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        return evaluate_policy(mdp, sup, pi).stop_value, pi

    _, pi = J(theta)
    lr = 1e-7
    stepped = baselines.finetune(mdp, sup, pi, steps=1, learning_rate=lr)
    analytic = (np.log(stepped) - np.log(pi)) / lr  # = grad - rowwise const
    numeric = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = 1e-6
        numeric[idx] = (J(theta + e)[0] - J(theta - e)[0]) / 2e-6
    centre = lambda g: g - g.mean(axis=1, keepdims=True)  # noqa: E731  (softmax is shift-invariant per row)
    np.testing.assert_allclose(centre(analytic), centre(numeric), atol=1e-5)


def test_avoid_is_entropy_regularised_optimum(corridor_setup):
    task, sup, _ = corridor_setup
    tau = 0.05
    pi = baselines.avoid(task.mdp, sup, temperature=tau)
    # Compare with the objective of every nearby perturbation: pi must be a local maximum.
    from rift_core.exact.evaluation import discounted_visitation

    def objective(p):
        y = discounted_visitation(task.mdp, sup, p)
        ent = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
        return y @ ((p * -sup.beta).sum(axis=1) + tau * ent)

    base = objective(pi)
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = pi * np.exp(0.05 * rng.normal(size=pi.shape))
        q /= q.sum(axis=1, keepdims=True)
        assert objective(q) <= base + 1e-12


def test_avoid_stands_still_in_corridor(corridor_setup):
    """Necessary but not sufficient: pure avoidance prefers the never-stopped no-op."""
    task, sup, pi0 = corridor_setup
    pi = baselines.avoid(task.mdp, sup, temperature=1e-3)
    assert np.all(pi[:6, 1] > 0.99)
    assert evaluate_policy(task.mdp, sup, pi).task_return < 1e-3


def test_hard_limit_of_avoid_matches_policy_iteration(corridor_setup):
    task, sup, _ = corridor_setup
    V_avoid = policy_iteration(task.mdp, sup, sup.learner_reward()).V
    assert np.all(np.abs(V_avoid) < 1e-12)  # staying is never stopped: zero stops is optimal
