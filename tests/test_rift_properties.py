"""Properties of the exact RIFT solve over random MDPs (the book's thm-residual-form and prop-limits).

Tolerances: the solver guarantees ``||V - V*||_inf <= 1e-10``; evaluating a
policy by a dense solve adds rounding of order ``1e-13 / (1 - gamma)``. We
allow ``1e-8 / (1 - gamma)``.
"""

import numpy as np
import pytest
from hypothesis import given

from rift_core import evaluate_policy, solve_rift
from rift_core.exact.planning import policy_iteration
from strategies import instances


def _atol(gamma: float) -> float:
    return 1e-8 / (1.0 - gamma)


@given(instances())
def test_value_equals_objective_at_optimum(inst):
    """rho . V = L_alpha(pi_alpha) = J_I - alpha D."""
    sol = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    ev = evaluate_policy(inst.mdp, inst.supervisor, sol.policy, inst.pi0)
    assert sol.error_bound <= 1e-10
    assert inst.mdp.rho @ sol.V == pytest.approx(ev.stop_value - inst.alpha * ev.kl_cost, abs=_atol(inst.mdp.gamma))


@given(instances())
def test_residual_form(inst):
    """pi_alpha = pi0 exp((Q - V) / alpha) and V = alpha log sum pi0 exp(Q / alpha)."""
    sol = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    on = inst.pi0 > 0
    assert np.all(sol.policy[~on] == 0.0)
    log_ratio = sol.log_policy[on] - np.log(inst.pi0[on])
    residual = ((sol.Q - sol.V[:, None]) / inst.alpha)[on]
    np.testing.assert_allclose(log_ratio, residual, atol=1e-9, rtol=1e-9)
    representable = sol.policy > 1e-300
    np.testing.assert_allclose(np.log(sol.policy[representable]), sol.log_policy[representable], atol=1e-9)


@given(instances())
def test_certificate_beats_prior(inst):
    """Theorem 2 at the optimum: J_I(pi_alpha) >= J_I(pi0) and alpha D <= J_I(pi_alpha) - J_I(pi0) <= p_stop(pi0)."""
    sol = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    ev = evaluate_policy(inst.mdp, inst.supervisor, sol.policy, inst.pi0)
    ev0 = evaluate_policy(inst.mdp, inst.supervisor, inst.pi0, inst.pi0)
    atol = _atol(inst.mdp.gamma)
    gain = ev.stop_value - ev0.stop_value
    assert gain >= -atol
    assert inst.alpha * ev.kl_cost <= gain + atol
    assert gain <= ev0.p_stop + atol


@given(instances(alpha_range=(1e3, 1e6)))
def test_large_alpha_recovers_prior(inst):
    """|log pi_alpha - log pi0| = |Q - V| / alpha <= span(Q) / alpha <= 1 / (alpha (1 - gamma))."""
    sol = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    on = inst.pi0 > 0
    gap = np.abs(sol.log_policy[on] - np.log(inst.pi0[on]))
    assert gap.max() <= 1.0 / (inst.alpha * (1.0 - inst.mdp.gamma)) + 1e-12


@given(instances(alpha_range=(1e-6, 1e-3)))
def test_small_alpha_recovers_best_avoidance_on_support(inst):
    """0 <= V0 - V_alpha <= alpha log(1 / min pi0) / (1 - gamma), V0 the best stop
    value over policies supported on supp(pi0)."""
    mdp, sup = inst.mdp, inst.supervisor
    sol = solve_rift(mdp, sup, inst.pi0, inst.alpha)
    hard = policy_iteration(mdp, sup, sup.learner_reward(), mask=inst.pi0 > 0)
    gap = hard.V - sol.V
    log_min = -np.log(inst.pi0[inst.pi0 > 0].min())
    atol = _atol(mdp.gamma)
    assert gap.min() >= -atol
    assert gap.max() <= inst.alpha * log_min / (1.0 - mdp.gamma) + atol


@given(instances(gamma_max=0.95))
def test_value_and_policy_iteration_agree(inst):
    """The soft Bellman operator has one fixed point: both solvers reach it."""
    a = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha, method="policy_iteration")
    b = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha, method="value_iteration")
    np.testing.assert_allclose(a.V, b.V, atol=3e-10)


@pytest.mark.parametrize("alpha", [1e-6, 1e-3, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("gamma", [0.0, 0.9, 0.999])
@pytest.mark.parametrize("semantics", ["terminate", "truncate"])
def test_stable_at_extremes(alpha, gamma, semantics):
    """No NaN or inf for alpha in [1e-6, 1e6] and gamma up to 0.999, with zeros in pi0."""
    from rift_core import tabular_envs
    from rift_core.exact.mdp import StopSupervisor

    mdp = tabular_envs.random_mdp(8, 4, gamma=gamma, seed=3)
    beta = np.random.default_rng(4).uniform(size=(8, 4))
    pi0 = tabular_envs.random_policy(8, 4, seed=5, drop=0.5)
    sup = StopSupervisor(beta, semantics)
    # Values reach 1 / (1 - gamma) in size, so ask for 1e-10 relative to that scale.
    tol = 1e-10 / (1 - gamma)
    sol = solve_rift(mdp, sup, pi0, alpha, tol=tol)
    assert np.isfinite(sol.V).all() and np.isfinite(sol.Q).all() and np.isfinite(sol.policy).all()
    assert sol.error_bound <= tol
    np.testing.assert_allclose(sol.policy.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(sol.policy[pi0 == 0] == 0.0)
    ev = evaluate_policy(mdp, sup, sol.policy, pi0)
    assert mdp.rho @ sol.V == pytest.approx(ev.rift_objective(alpha), abs=1e-8 / (1 - gamma))
