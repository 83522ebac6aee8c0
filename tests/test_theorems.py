"""Theorems 2-6 (book/theory_guarantees.md) exercised through the library on random MDPs.

These are the library-level twins of the verification notebooks: hypothesis
draws instances, and each test asserts a theorem's inequality with the
tolerance eps = 1e-8 / (1 - gamma) (dense-solve rounding; see the notebooks).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rift_core import StopSupervisor, bounds, evaluate_policy, solve_rift, supervisors, tabular_envs
from rift_core.exact.instances import adversarial_instance, random_instance
from rift_core.exact.planning import policy_iteration
from strategies import instances


def _eps(gamma):
    return 1e-8 / (1 - gamma)


@given(instances(), st.floats(0.0, 1.0))
def test_theorem2_certificate_for_partial_residuals(inst, t):
    """Any pi with L(pi) >= L(pi0), here pi_t ∝ pi0 exp(t (Q - V) / alpha), obeys the certificate."""
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    sol = solve_rift(mdp, sup, pi0, a)
    logits = np.where(pi0 > 0, np.log(np.where(pi0 > 0, pi0, 1.0)) + t * (sol.Q - sol.V[:, None]) / a, -np.inf)
    pi = np.exp(logits - logits.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    ev, ev0 = evaluate_policy(mdp, sup, pi, pi0), evaluate_policy(mdp, sup, pi0, pi0)
    if ev.rift_objective(a) < ev0.stop_value:
        return  # outside the theorem's hypothesis
    gain = ev.stop_value - ev0.stop_value
    assert gain >= -_eps(mdp.gamma)
    assert a * ev.kl_cost <= gain + _eps(mdp.gamma)
    assert gain <= ev0.p_stop + _eps(mdp.gamma)


@given(instances(), st.integers(0, 2**32 - 1), st.floats(-10.0, 10.0))
def test_theorem3_regret_for_any_policy(inst, seed, shift):
    """|J_r(pi) - J_r(pi0)| <= R / (1-gamma) sqrt(D/2), R the span of rewards and 0, any reward shift."""
    mdp = inst.mdp.with_reward(inst.mdp.r + shift)
    pi = inst.pi0 * tabular_envs.random_policy(*inst.pi0.shape, seed=seed)
    pi /= pi.sum(axis=1, keepdims=True)
    ev, ev0 = evaluate_policy(mdp, inst.supervisor, pi, inst.pi0), evaluate_policy(mdp, inst.supervisor, inst.pi0, inst.pi0)
    R = bounds.reward_span(mdp)
    assert abs(ev.task_return - ev0.task_return) <= bounds.regret_bound(mdp.gamma, ev.kl_cost, R) + _eps(mdp.gamma) * (1 + abs(shift))


def test_reward_span_by_hand():
    mdp = tabular_envs.random_mdp(2, 2, seed=0)
    assert bounds.reward_span(mdp.with_reward(np.array([[5.0, 6.0], [5.5, 5.0]]))) == 6.0
    assert bounds.reward_span(mdp.with_reward(np.array([[-2.0, 1.0], [0.0, 0.5]]))) == 3.0
    assert bounds.reward_span(mdp.with_reward(np.array([[-2.0, -1.0], [-1.5, -1.0]]))) == 2.0


def test_theorem3_needs_zero_in_the_reward_interval():
    """The width of the reward range alone is not enough (a finding; see verify_guarantees)."""
    rng = np.random.default_rng(11)
    violated = 0
    for _ in range(300):
        inst = random_instance(rng)
        mdp = inst.mdp.with_reward(inst.mdp.r + 5.0)
        pi = solve_rift(mdp, inst.supervisor, inst.pi0, inst.alpha).policy
        ev, ev0 = evaluate_policy(mdp, inst.supervisor, pi, inst.pi0), evaluate_policy(mdp, inst.supervisor, inst.pi0, inst.pi0)
        violated += abs(ev.task_return - ev0.task_return) > bounds.regret_bound(mdp.gamma, ev.kl_cost, float(np.ptp(mdp.r))) + _eps(mdp.gamma)
    assert violated > 0


@given(instances())
def test_theorem4_comonotone_improves(inst):
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    sol = solve_rift(mdp, sup, pi0, a)
    if not bounds.comonotone_states(sol.Q, bounds.task_action_value(mdp, sup, pi0), pi0 > 0, tol=1e-10).all():
        return
    assert evaluate_policy(mdp, sup, sol.policy).task_return >= evaluate_policy(mdp, sup, pi0).task_return - _eps(mdp.gamma)


def test_theorem4_bandit_with_precise_supervisor():
    """gamma = 0: Q_alpha = -beta and Q_r = (1 - beta) r; a precise supervisor is comonotone by construction."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        mdp = tabular_envs.random_mdp(3, 4, gamma=0.0, seed=rng)
        sup = supervisors.precise(mdp, float(rng.uniform(0, 0.3)))
        pi0 = tabular_envs.random_policy(3, 4, seed=rng)
        sol = solve_rift(mdp, sup, pi0, float(10 ** rng.uniform(-2, 1)))
        assert bounds.comonotone_states(sol.Q, bounds.task_action_value(mdp, sup, pi0), pi0 > 0).all()
        assert evaluate_policy(mdp, sup, sol.policy).task_return >= evaluate_policy(mdp, sup, pi0).task_return - 1e-12


@given(instances(alpha_range=(1e-2, 10.0)), st.floats(1.0, 100.0))
def test_theorem5_catastrophe(inst, C):
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    ev = evaluate_policy(mdp, sup, solve_rift(mdp, sup, pi0, a).policy, pi0)
    ev0 = evaluate_policy(mdp, sup, pi0, pi0)
    dI = max(ev.stop_value - ev0.stop_value, 0.0)
    lower = bounds.catastrophe_improvement_bound(mdp.gamma, dI, a, C, bounds.reward_span(mdp))
    assert ev.catastrophe_return(C) - ev0.catastrophe_return(C) >= lower - _eps(mdp.gamma) * (1 + C)
    if dI > bounds.catastrophe_threshold(mdp.gamma, a, C, bounds.reward_span(mdp)) + _eps(mdp.gamma):
        assert ev.catastrophe_return(C) > ev0.catastrophe_return(C)


def test_catastrophe_threshold_is_where_the_bound_turns_positive():
    g, a, C, R = 0.9, 0.5, 3.0, 1.0
    th = bounds.catastrophe_threshold(g, a, C, R)
    assert abs(bounds.catastrophe_improvement_bound(g, th, a, C, R)) < 1e-9
    assert bounds.catastrophe_improvement_bound(g, 1.01 * th, a, C, R) > 0 > bounds.catastrophe_improvement_bound(g, 0.99 * th, a, C, R)


@settings(max_examples=40)
@given(instances(semantics=("terminate", "truncate")), st.floats(0.0, 0.3))
def test_theorem6_worst_never_stopped_policy(inst, delta):
    """The worst policy supported on {A* >= -delta} is within delta / (1 - gamma) of J*."""
    mdp = inst.mdp
    sup = supervisors.precise(mdp, delta, semantics=inst.supervisor.semantics)
    gap = bounds.worst_never_stopped_gap(mdp, sup.beta)
    assert gap is not None  # an optimal action (A* = 0) is never stopped
    assert gap <= bounds.precise_gap_bound(mdp.gamma, delta) + _eps(mdp.gamma)


def test_worst_never_stopped_gap_by_hand():
    """Corridor, no supervisor: the worst never-stopped policy (stay forever, or fall) loses all of J*."""
    task = tabular_envs.cliff_corridor(length=3, p_fall=0.5, gamma=0.9)
    free = np.zeros(task.mdp.r.shape)
    J_star = task.mdp.rho @ policy_iteration(task.mdp, StopSupervisor(free), task.mdp.r).V
    worst_J = task.mdp.rho @ policy_iteration(task.mdp, StopSupervisor(free), -task.mdp.r).V
    assert bounds.worst_never_stopped_gap(task.mdp, free) == pytest.approx(J_star + worst_J, abs=1e-12)
    blocked = free.copy()
    blocked[0] = 1.0
    assert bounds.worst_never_stopped_gap(task.mdp, blocked) is None


def test_comonotone_states_by_hand():
    Q_stop = np.array([[0.0, -1.0, -2.0], [0.0, 0.0, -1.0]])
    good = np.array([[3.0, 2.0, 1.0], [5.0, 1.0, 0.0]])  # ties in Q_stop impose nothing
    bad = np.array([[1.0, 2.0, 3.0], [5.0, 1.0, 0.0]])
    support = np.ones((2, 3), dtype=bool)
    assert bounds.comonotone_states(Q_stop, good, support).tolist() == [True, True]
    assert bounds.comonotone_states(Q_stop, bad, support).tolist() == [False, True]
    support[0, 0] = False
    assert bounds.comonotone_states(Q_stop, np.array([[9.0, 2.0, 3.0], [0, 0, 0]]), support).tolist() == [False, True]


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_theorem3_is_tight_on_the_fork(gamma):
    """The fork attains ratio ~gamma against the bound (>= 0.85 at gamma 0.9 and 0.99); the ratio computed by hand:
    change = shift gamma / (1 - gamma), D = KL(1/2 + shift || 1/2)."""
    shift = 0.01
    task, pi0, pi = tabular_envs.regret_fork(gamma, shift)
    sup = StopSupervisor(np.zeros((3, 2)))
    ev, ev0 = evaluate_policy(task.mdp, sup, pi, pi0), evaluate_policy(task.mdp, sup, pi0, pi0)
    change = ev.task_return - ev0.task_return
    kl = (0.5 + shift) * np.log(1 + 2 * shift) + (0.5 - shift) * np.log(1 - 2 * shift)
    assert change == pytest.approx(shift * gamma / (1 - gamma), rel=1e-9)
    assert ev.kl_cost == pytest.approx(kl, rel=1e-9)
    ratio = change / bounds.regret_bound(gamma, ev.kl_cost, bounds.reward_span(task.mdp))
    assert ratio <= 1.0 and ratio == pytest.approx(gamma, rel=1e-3)


@given(instances())
def test_rift_tilt_bound(inst):
    """Corollary cor-rift-tilt: D(pi_alpha) <= sum_s y sigma^2 / (8 alpha^2), and the loss it implies."""
    from rift_core.exact.evaluation import discounted_visitation
    mdp, sup = inst.mdp, inst.supervisor
    sol = solve_rift(mdp, sup, inst.pi0, inst.alpha)
    ev, ev0 = evaluate_policy(mdp, sup, sol.policy, inst.pi0), evaluate_policy(mdp, sup, inst.pi0, inst.pi0)
    kl_bound = bounds.tilt_kl_bound(discounted_visitation(mdp, sup, sol.policy), sol.Q, inst.pi0, inst.alpha)
    assert ev.kl_cost <= kl_bound * (1 + 1e-9) + _eps(mdp.gamma)
    loss = ev0.task_return - ev.task_return
    assert loss <= bounds.regret_bound(mdp.gamma, kl_bound, bounds.reward_span(mdp)) + _eps(mdp.gamma)


@settings(max_examples=40)
@given(instances(semantics=("terminate", "truncate")), st.floats(0.0, 0.3))
def test_theorem6_robust_form_for_rift_and_any_policy(inst, delta):
    """thm-precise-robust for pi_alpha, the prior and a random policy; cor-precise-rift for pi_alpha."""
    mdp = inst.mdp
    sem = inst.supervisor.semantics
    sup = supervisors.precise(mdp, delta, semantics=sem)
    J_star = float(mdp.rho @ policy_iteration(mdp, StopSupervisor(np.zeros_like(mdp.r)), mdp.r).V)
    c = bounds.precise_stop_cost(mdp, sem)
    pi_rand = tabular_envs.random_policy(*inst.pi0.shape, seed=1)
    for pi in (solve_rift(mdp, sup, inst.pi0, inst.alpha).policy, inst.pi0, pi_rand):
        ev = evaluate_policy(mdp, sup, pi)
        assert J_star - ev.task_return <= bounds.precise_regret_bound(mdp.gamma, delta, ev.p_stop, c) + _eps(mdp.gamma)
    # the corollary: p_stop(pi_alpha) <= p0 + alpha log(1 / p_min) / (1 - gamma)
    support = inst.pi0 > 0
    p0 = -float(mdp.rho @ policy_iteration(mdp, sup, sup.learner_reward(), mask=support).V)
    p_min = inst.pi0[support].min()
    e_alpha = evaluate_policy(mdp, sup, solve_rift(mdp, sup, inst.pi0, inst.alpha).policy)
    assert e_alpha.p_stop <= p0 + inst.alpha * np.log(1 / p_min) / (1 - mdp.gamma) + _eps(mdp.gamma)


@given(instances(), st.integers(0, 2**32 - 1))
def test_supervisor_perturbation_identity_and_bound(inst, seed):
    """prop-perturbation: the exact identity for L_alpha, and the stop-value bound, against independent solves."""
    from rift_core.exact.evaluation import discounted_visitation, kl_per_state, policy_value
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    rng = np.random.default_rng(seed)
    beta_hat = np.clip(sup.beta + rng.uniform(-0.2, 0.2, sup.beta.shape), 0.0, 1.0)
    sup_hat = StopSupervisor(beta_hat, sup.semantics)
    pi = solve_rift(mdp, sup_hat, pi0, a).policy  # RIFT fitted against the model of the supervisor
    y = discounted_visitation(mdp, sup, pi)
    kl = kl_per_state(pi, pi0)
    V_hat = policy_value(mdp, sup_hat, pi, sup_hat.learner_reward() - a * kl[:, None])
    g = 1 + mdp.gamma * (mdp.P @ V_hat) - (mdp.gamma * V_hat[:, None] if sup.semantics == "truncate" else 0.0)
    rhs = y @ (pi * (beta_hat - sup.beta) * g).sum(axis=1)
    ev, ev_hat = evaluate_policy(mdp, sup, pi, pi0), evaluate_policy(mdp, sup_hat, pi, pi0)
    assert ev.rift_objective(a) - ev_hat.rift_objective(a) == pytest.approx(rhs, abs=_eps(mdp.gamma) * (1 + abs(rhs)))
    bound = bounds.stop_value_perturbation_bound(mdp.gamma, sup.semantics, float(np.abs(sup.beta - beta_hat).max()), y.sum())
    assert abs(ev.stop_value - ev_hat.stop_value) <= bound + _eps(mdp.gamma)


def test_perturbation_needs_kappa_under_truncate():
    """One state stopped with probability b, its exit leads to safety: dJ_I/db -> -1/(1-gamma)^2 > sum_s y(s)."""
    from rift_core.exact.mdp import FiniteMDP
    gamma, b, db = 0.9, 0.99, 1e-4
    P = np.zeros((2, 1, 2)); P[0, 0, 1] = 1.0; P[1, 0, 1] = 1.0
    mdp = FiniteMDP(P, np.zeros((2, 1)), np.array([1.0, 0.0]), gamma)
    J = lambda beta0: evaluate_policy(mdp, StopSupervisor(np.array([[beta0], [0.0]]), "truncate"), np.ones((2, 1))).stop_value  # noqa: E731
    assert J(b) == pytest.approx(-b / (1 - gamma * b))
    change = abs(J(b) - J(b - db))
    assert change > 1.5 * db / (1 - gamma)  # the bound without kappa fails
    assert change <= bounds.stop_value_perturbation_bound(gamma, "truncate", db, 1 / (1 - gamma))


@given(st.integers(0, 2**32 - 1))
def test_theorems_on_the_widened_family(seed):
    """Certificate, tight regret and tilt bounds on adversarial_instance: gamma to 0.999, deterministic kernels,
    unreachable states, shifted rewards, 1e-8 prior masses, 0/1 or tiny supervisors."""
    import warnings

    from rift_core.exact.evaluation import discounted_visitation
    from rift_core.exact.rift import ConvergenceWarning
    inst = adversarial_instance(np.random.default_rng(seed))
    mdp, sup, pi0, a = inst.mdp, inst.supervisor, inst.pi0, inst.alpha
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the rounding floor at gamma = 0.999, within tolerance
        sol = solve_rift(mdp, sup, pi0, a)
    ev, ev0 = evaluate_policy(mdp, sup, sol.policy, pi0), evaluate_policy(mdp, sup, pi0, pi0)
    eps = _eps(mdp.gamma)
    R = bounds.reward_span(mdp)
    gain = ev.stop_value - ev0.stop_value
    assert gain >= -eps and a * ev.kl_cost <= gain + eps
    assert abs(ev.task_return - ev0.task_return) <= bounds.regret_bound(mdp.gamma, ev.kl_cost, R) + eps * (1 + R)
    assert ev.kl_cost <= bounds.tilt_kl_bound(discounted_visitation(mdp, sup, sol.policy), sol.Q, pi0, a) * (1 + 1e-9) + eps


def test_adversarial_instances_reach_every_corner():
    rng = np.random.default_rng(0)
    draws = [adversarial_instance(rng) for _ in range(200)]
    assert any(d.mdp.gamma == 0.999 for d in draws)
    assert any(np.isin(d.mdp.P, (0.0, 1.0)).all() for d in draws)
    assert any(d.mdp.r.min() >= 10 for d in draws) and any(d.mdp.r.max() <= -9 for d in draws)
    assert any((d.pi0 == 1e-8 / d.pi0.sum(axis=1, keepdims=True)).any() or (np.abs(d.pi0 - 1e-8) < 1e-9).any() for d in draws)
    assert any(np.isin(d.supervisor.beta, (0.0, 1.0)).all() and d.supervisor.beta.any() for d in draws)
    assert any(0 < d.supervisor.beta.max() <= 1e-6 for d in draws)
    assert all(d.kind.endswith("+adversarial") for d in draws)


def test_tilt_kl_bound_names_bad_input():
    with pytest.raises(ValueError, match=r"visitation has shape \(2,\)"):
        bounds.tilt_kl_bound(np.ones(2), np.zeros((3, 2)), np.full((3, 2), 0.5), 0.1)
    with pytest.raises(ValueError, match=r"Q\[0, 1\] is nan"):
        bounds.tilt_kl_bound(np.ones(3), np.array([[0.0, np.nan], [0, 0], [0, 0]]), np.full((3, 2), 0.5), 0.1)
    with pytest.raises(ValueError, match="alpha is 0"):
        bounds.tilt_kl_bound(np.ones(3), np.zeros((3, 2)), np.full((3, 2), 0.5), 0.0)
