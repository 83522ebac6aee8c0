"""Sampling, sample-based RIFT and linear RIFT."""

import numpy as np
import pytest
from hypothesis import given

from rift_core import StopSupervisor, evaluate_policy, solve_rift, tabular_envs
from rift_core.data.learning import empirical_model, fitted_soft_q_iteration, iterated_rift
from rift_core.exact.linear import linear_rift, one_hot_features
from rift_core.data.sampling import EStopData, delayed, rollout
from strategies import instances


@pytest.fixture(params=["terminate", "truncate"])
def setting(request):
    mdp = tabular_envs.random_mdp(5, 3, gamma=0.5, seed=0)
    sup = StopSupervisor(np.random.default_rng(1).uniform(0, 0.4, size=(5, 3)), request.param)
    pi0 = tabular_envs.random_policy(5, 3, seed=2, drop=0.2)
    return mdp, sup, pi0


def test_rollout_matches_exact_evaluation(setting):
    """Monte Carlo task return and stops within 5 standard errors of the exact values."""
    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, n_episodes=20_000, horizon=60, seed=3)  # 0.5^60: truncation bias < 1e-17
    ret, stops = data.discounted_returns(mdp.gamma)
    ev = evaluate_policy(mdp, sup, pi0)
    for est, exact in ((ret, ev.task_return), (stops, ev.p_stop)):
        assert abs(est.mean() - exact) <= 5 * est.std() / np.sqrt(len(est)) + 1e-12


def test_rollout_is_seeded(setting):
    mdp, sup, pi0 = setting
    a, b = rollout(mdp, sup, pi0, 50, 20, seed=9), rollout(mdp, sup, pi0, 50, 20, seed=9)
    assert np.array_equal(a.state, b.state) and np.array_equal(a.stopped, b.stopped)


def test_rollout_semantics(setting):
    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, 200, 30, seed=4)
    if sup.semantics == "terminate":
        assert np.array_equal(data.stopped, data.terminal)
    else:
        assert not data.terminal.any() and np.all(data.next_state[data.stopped] == data.state[data.stopped])
    assert np.all(data.task_reward[data.stopped] == 0.0)


def test_delayed_stop_arrives_k_steps_late():
    # one state, two actions; action 1 is always stopped, action 0 never; the policy takes 1 only at t = 0
    mdp = tabular_envs.random_mdp(2, 2, seed=0)
    P = np.zeros((2, 2, 2))
    P[0, :, 1] = 1.0
    P[1, :, 1] = 1.0
    from rift_core import FiniteMDP

    mdp = FiniteMDP(P, np.zeros((2, 2)), np.array([1.0, 0.0]), 0.9)
    sup = StopSupervisor(np.array([[0.0, 1.0], [0.0, 0.0]]))
    pi = np.array([[0.0, 1.0], [1.0, 0.0]])
    for k in (0, 1, 3):
        data = rollout(mdp, delayed(sup, k), pi, 5, 10, seed=0)
        steps = np.flatnonzero(data.stopped[data.episode == 0])
        assert steps.tolist() == [k]


def test_fitted_soft_q_equals_empirical_model_solve(setting):
    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, 300, 40, seed=5)
    fit = fitted_soft_q_iteration(data, pi0, 0.2, mdp.gamma, pessimism="none")
    model = empirical_model(data, mdp.gamma)
    sol = solve_rift(model.mdp, model.supervisor, model.extend(pi0), 0.2)
    np.testing.assert_allclose(fit.Q, model.restrict(sol.Q), atol=1e-9)
    np.testing.assert_allclose(fit.policy, model.restrict(sol.policy), atol=1e-9)


def test_fitted_soft_q_converges_within_a_sample_size_tolerance(setting):
    r"""The empirical-mean learner: simulation lemma + Hoeffding: ||Q_hat - Q||_inf <= (1/(1-gamma)) * 2 sqrt(log(2 S A / delta) / (2 n_min)).

    Each target lies in an interval of width 2 (reward in [-1, 0], gamma V in [-1, 0]
    under terminate; under truncate values scale by 1/(1-gamma), so the width is
    1 + gamma/(1-gamma)); delta = 1e-6 makes a false failure negligible.
    """
    mdp, sup, pi0 = setting
    exact = solve_rift(mdp, sup, pi0, 0.2)
    width = 2.0 if sup.semantics == "terminate" else 1.0 + mdp.gamma / (1 - mdp.gamma)
    errors = []
    for n in (100, 1000, 10_000):
        data = rollout(mdp, sup, pi0, n, 40, seed=n)
        fit = fitted_soft_q_iteration(data, pi0, 0.2, mdp.gamma, pessimism="none")
        on = pi0 > 0
        n_min = fit.counts[on].min()
        tol = width / (1 - mdp.gamma) * np.sqrt(np.log(2 * 15 / 1e-6) / (2 * n_min))
        err = np.abs(fit.Q - exact.Q)[on].max()
        assert err <= tol
        errors.append(err)
    assert errors[2] < errors[0]


def test_iterated_rift_improves_stops(setting):
    mdp, sup, pi0 = setting
    run = iterated_rift(mdp, sup, pi0, 0.2, rounds=4, episodes_per_round=500, horizon=40, seed=1)
    assert run.episodes.tolist() == [500, 1000, 1500, 2000]
    J0 = evaluate_policy(mdp, sup, pi0).stop_value
    assert evaluate_policy(mdp, sup, run.policies[-1]).stop_value > J0


@given(instances(max_states=5, max_actions=3))
def test_linear_rift_one_hot_reproduces_tabular(inst):
    lin = linear_rift(inst.mdp, inst.supervisor, inst.pi0, one_hot_features(inst.mdp.n_states, inst.mdp.n_actions), inst.alpha)
    exact = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    np.testing.assert_allclose(lin.policy, exact.policy, atol=1e-8)
    assert lin.gap_bound <= 1e-6 / (1 - inst.mdp.gamma)  # one-hot features express the soft-greedy step
    assert np.all(np.diff(lin.objective) >= -1e-9 / (1 - inst.mdp.gamma))  # soft PI is monotone


def test_linear_fitted_one_hot_equals_tabular(setting):
    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, 200, 40, seed=6)
    a = fitted_soft_q_iteration(data, pi0, 0.2, mdp.gamma, pessimism="none")
    b = fitted_soft_q_iteration(data, pi0, 0.2, mdp.gamma, features=one_hot_features(5, 3), ridge=1e-10,
                                pessimism="none")
    np.testing.assert_allclose(a.Q, b.Q, atol=1e-8)


def test_linear_rift_improves_objective_with_coarse_features(setting):
    mdp, sup, pi0 = setting
    phi = np.random.default_rng(0).normal(size=(5, 3, 2))
    lin = linear_rift(mdp, sup, pi0, phi, 0.2, step_size=0.5)
    assert lin.objective[-1] >= lin.objective[0] - 1e-12
    assert lin.objective[-1] <= mdp.rho @ solve_rift(mdp, sup, pi0, 0.2).V + 1e-10  # never beats the unrestricted optimum


def _data(**overrides):
    base = dict(episode=np.array([0, 0, 1]), state=np.array([0, 1, 0]), action=np.array([1, 0, 1]),
                stopped=np.array([False, True, False]), task_reward=np.array([1.0, 0.0, 0.5]),
                next_state=np.array([1, 1, 1]), terminal=np.array([False, True, False]),
                time_limit=np.array([False, False, True]), n_states=2, n_actions=2, semantics="terminate")
    base.update(overrides)
    return EStopData(**base)


def test_good_dataset_passes():
    assert len(_data()) == 3 and _data().n_episodes == 2


@pytest.mark.parametrize("overrides, message", [
    (dict(episode=np.array([], dtype=int), state=np.array([], dtype=int), action=np.array([], dtype=int),
          stopped=np.array([], dtype=bool), task_reward=np.array([]), next_state=np.array([], dtype=int),
          terminal=np.array([], dtype=bool), time_limit=np.array([], dtype=bool)), "dataset is empty"),
    (dict(action=np.array([1, 0])), r"action has shape \(2,\), expected \(3,\)"),
    (dict(task_reward=np.array([1.0, np.nan, 0.5])), r"task_reward\[1\] is nan"),
    (dict(action=np.array([1, 2, 1])), r"action\[1\] is 2, expected a value in \[0, 2\)"),
    (dict(state=np.array([0, -1, 0])), r"state\[1\] is -1"),
    (dict(terminal=np.array([False, False, False]), time_limit=np.array([False, True, True])), r"stopped\[1\] is True but terminal\[1\] is False"),
    (dict(episode=np.array([0, 1, 1])), r"row 1 ends episode 1 .* goes on at row 2"),
    (dict(time_limit=np.array([False, False, False])), "episode 1 ends at row 2 without a stop or a time limit"),
    (dict(episode=np.array([0, 1, 0]), stopped=np.array([True, True, False]), terminal=np.array([True, True, False])), "not contiguous"),
    (dict(stopped=np.array([0, 1, 0])), "stopped must be boolean"),
    (dict(semantics="truncate"), r"terminal\[1\] is True, but under truncate"),
])
def test_bad_datasets_raise(overrides, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _data(**overrides)


def test_fitted_soft_q_rejects_bad_inputs(setting):
    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, 20, 10, seed=0)
    with pytest.raises(ValueError, match=r"pi_ref has shape \(4, 3\)"):
        fitted_soft_q_iteration(data, pi0[:4], 0.2, 0.5)
    with pytest.raises(ValueError, match="features has shape"):
        fitted_soft_q_iteration(data, pi0, 0.2, 0.5, features=np.zeros((5, 2, 4)))
    with pytest.raises(TypeError, match="data must be an EStopData"):
        fitted_soft_q_iteration({"state": []}, pi0, 0.2, 0.5)


@given(instances(max_states=5, max_actions=3))
def test_linear_rift_gap_bound_brackets_the_exact_gap(inst):
    """prop-linear-gap: 0 <= L(pi_alpha) - L(pi_theta) <= gap_bound, with random coarse features."""
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    import warnings

    from rift_core.exact.rift import ConvergenceWarning
    phi = np.random.default_rng(0).normal(size=(mdp.n_states, mdp.n_actions, 2))
    with warnings.catch_warnings():  # coarse features need not settle in 50 steps; the bound holds for any iterate
        warnings.simplefilter("ignore", ConvergenceWarning)
        lin = linear_rift(mdp, sup, pi0, phi, a, iterations=50)
    exact = solve_rift(mdp, sup, pi0, a)
    gap = mdp.rho @ exact.V - evaluate_policy(mdp, sup, lin.policy, pi0).rift_objective(a)
    eps = 1e-8 / (1 - mdp.gamma)
    assert -eps <= gap <= lin.gap_bound + eps


@pytest.mark.parametrize("k", [0, 1, 3])
def test_apparent_stop_rates_match_the_data(setting, k):
    """prop-delayed: the exact forward pass against 20,000 delayed episodes (within 5 standard errors)."""
    from rift_core.data.sampling import apparent_stop_rates
    mdp, sup, pi0 = setting
    beta_tilde = apparent_stop_rates(mdp, delayed(sup, k), pi0, 30)
    model = empirical_model(rollout(mdp, delayed(sup, k), pi0, 20_000, 30, seed=k), mdp.gamma)
    seen = model.counts > 100
    se = np.sqrt(np.maximum(beta_tilde * (1 - beta_tilde), 1e-12) / np.maximum(model.counts, 1))
    assert (np.abs(model.beta_hat - beta_tilde)[seen] <= 5 * se[seen] + 1e-12).all()
    if k == 0:
        np.testing.assert_allclose(beta_tilde[seen], sup.beta[seen], atol=1e-12)


def test_apparent_stop_rates_refuse_bad_input(setting):
    from rift_core.data.sampling import apparent_stop_rates
    mdp, sup, pi0 = setting
    with pytest.raises(TypeError, match="DelayedSupervisor"):
        apparent_stop_rates(mdp, sup, pi0, 10)
    with pytest.raises(ValueError, match="delay is 13"):
        apparent_stop_rates(mdp, delayed(sup, 13), pi0, 10)
    with pytest.raises(ValueError, match="horizon"):
        apparent_stop_rates(mdp, delayed(sup, 1), pi0, 0)


def test_rollout_on_a_sparse_mdp_matches_the_dense_one_draw_for_draw():
    import scipy.sparse as sp

    from rift_core.exact.mdp import FiniteMDP

    for seed in range(3):
        base = tabular_envs.random_mdp(12, 3, gamma=0.9, seed=seed, concentration=0.3)
        P = np.where(base.P < 0.05, 0.0, base.P)
        P /= P.sum(-1, keepdims=True)
        dense = FiniteMDP(P, base.r, base.rho, 0.9)
        sparse = FiniteMDP(sp.csr_array(P.reshape(36, 12)), base.r, base.rho, 0.9)
        sup = StopSupervisor(np.random.default_rng(seed).uniform(0, 0.2, (12, 3)))
        pi = np.full((12, 3), 1 / 3)
        a, b = rollout(dense, sup, pi, 200, 30, seed=seed), rollout(sparse, sup, pi, 200, 30, seed=seed)
        for field in ("episode", "state", "action", "stopped", "next_state", "terminal"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_rollout_on_a_million_states_builds_no_dense_rows():
    import tracemalloc

    S = 1_000_000
    mdp = tabular_envs.random_sparse_mdp(S, 2, 5, gamma=0.99, seed=0)
    sup, pi = StopSupervisor(np.full((S, 2), 0.01)), np.full((S, 2), 0.5)
    tracemalloc.start()
    try:
        data = rollout(mdp, sup, pi, 500, 20, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # one dense row of width S for each of 500 episodes would be 4 GB; the policy's own check copies 16 MB
    assert len(data.state) > 5_000 and peak < 100e6, peak
    assert set(np.unique(data.next_state)) <= set(range(S))


@pytest.mark.parametrize("pessimism", ["lcb", "spibb", "none"])
def test_a_fit_that_stops_early_warns_and_says_so(setting, pessimism):
    # the core's one rule for stopping early, in the learner too: a ConvergenceWarning and converged=False
    from rift_core import ConvergenceWarning

    mdp, sup, pi0 = setting
    data = rollout(mdp, sup, pi0, 200, 30, seed=4)
    with pytest.warns(ConvergenceWarning, match="fitted_soft_q_iteration"):
        fit = fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism=pessimism, max_iterations=1)
    assert not fit.converged and fit.iterations == 1
    assert fitted_soft_q_iteration(data, pi0, 0.1, mdp.gamma, pessimism=pessimism).converged
