"""RIFT on a 2-state, 2-action MDP whose solution sympy derives in closed form.

State 1 loops on itself; its prior takes action 0 only (a zero in pi0), stopped
with probability b, so under ``terminate``
``V1 = -b / (1 - gamma (1 - b))``. From state 0 both actions lead to state 1,
stopped with probabilities b0 and b1, so ``Q0a = -b_a + gamma (1 - b_a) V1`` and
``V0 = alpha log(p exp(Q00 / alpha) + (1 - p) exp(Q01 / alpha))``.
"""

import numpy as np
import pytest
import sympy as sp

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, solve_rift

PARAMS = dict(gamma=sp.Rational(9, 10), b=sp.Rational(1, 5), b0=sp.Rational(1, 10), b1=sp.Rational(1, 2), p=sp.Rational(1, 3))


def _closed_form():
    alpha = sp.symbols("alpha", positive=True)
    g, b, b0, b1, p = (PARAMS[k] for k in ("gamma", "b", "b0", "b1", "p"))
    V1 = -b / (1 - g * (1 - b))
    Q00 = -b0 + g * (1 - b0) * V1
    Q01 = -b1 + g * (1 - b1) * V1
    V0 = alpha * sp.log(p * sp.exp(Q00 / alpha) + (1 - p) * sp.exp(Q01 / alpha))
    pi00 = p * sp.exp((Q00 - V0) / alpha)
    return alpha, V0, V1, Q00, Q01, pi00


def _numeric_mdp(semantics="terminate"):
    g, b, b0, b1, p = (float(PARAMS[k]) for k in ("gamma", "b", "b0", "b1", "p"))
    P = np.zeros((2, 2, 2))
    P[0, :, 1] = 1.0
    P[1, 0, 1] = 1.0
    P[1, 1, 0] = 1.0
    mdp = FiniteMDP(P, np.zeros((2, 2)), np.array([1.0, 0.0]), g)
    sup = StopSupervisor(np.array([[b0, b1], [b, 0.9]]), semantics)
    pi0 = np.array([[p, 1 - p], [1.0, 0.0]])
    return mdp, sup, pi0


@pytest.mark.parametrize("alpha_value", [sp.Rational(1, 100), sp.Rational(1, 10), sp.Integer(1), sp.Integer(10)])
@pytest.mark.parametrize("method", ["policy_iteration", "value_iteration"])
def test_matches_sympy_closed_form(alpha_value, method):
    alpha, V0, V1, Q00, Q01, pi00 = _closed_form()
    mdp, sup, pi0 = _numeric_mdp()
    sol = solve_rift(mdp, sup, pi0, float(alpha_value), method=method, tol=1e-12)
    exact_V = [float(sp.N(V0.subs(alpha, alpha_value), 30)), float(sp.N(V1, 30))]
    np.testing.assert_allclose(sol.V, exact_V, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sol.Q[0], [float(sp.N(Q00, 30)), float(sp.N(Q01, 30))], rtol=0, atol=1e-10)
    assert sol.policy[0, 0] == pytest.approx(float(sp.N(pi00.subs(alpha, alpha_value), 30)), abs=1e-10)
    assert sol.policy[1].tolist() == [1.0, 0.0]  # the prior's zero stays a zero


def test_closed_form_limits():
    """alpha -> inf gives pi0; alpha -> 0+ puts all mass on the better action (Q00 > Q01)."""
    alpha, V0, V1, Q00, Q01, pi00 = _closed_form()
    # Divide through by exp(Q00 / alpha): the logistic form sympy's limit handles
    # (sympy 1.14 returns oo for the 0+ limit of the unsimplified pi00).
    p = PARAMS["p"]
    logistic = p / (p + (1 - p) * sp.exp((Q01 - Q00) / alpha))
    for a in (sp.Rational(1, 50), sp.Integer(1), sp.Integer(30)):
        assert abs(sp.N(pi00.subs(alpha, a) - logistic.subs(alpha, a), 40)) < 1e-30
    assert sp.limit(logistic, alpha, sp.oo) == p
    assert Q00 > Q01
    assert sp.limit(logistic, alpha, 0, dir="+") == 1
    assert sp.simplify(sp.limit(V0, alpha, 0, dir="+") - Q00) == 0
    mdp, sup, pi0 = _numeric_mdp()
    assert solve_rift(mdp, sup, pi0, 1e6).policy[0, 0] == pytest.approx(float(PARAMS["p"]), abs=1e-6)
    assert solve_rift(mdp, sup, pi0, 1e-6).policy[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_value_is_objective_in_closed_form_instance():
    mdp, sup, pi0 = _numeric_mdp()
    sol = solve_rift(mdp, sup, pi0, 0.1)
    ev = evaluate_policy(mdp, sup, sol.policy, pi0)
    assert mdp.rho @ sol.V == pytest.approx(ev.rift_objective(0.1), abs=1e-12)


def test_truncate_self_loop_value():
    """Under truncate a halted self-loop stays put: V1 = -b / (1 - gamma)."""
    mdp, sup, pi0 = _numeric_mdp("truncate")
    sol = solve_rift(mdp, sup, pi0, 0.3)
    g, b = float(PARAMS["gamma"]), float(PARAMS["b"])
    assert sol.V[1] == pytest.approx(-b / (1 - g), abs=1e-10)


def test_soft_backup_keeps_a_tiny_prior_weight_on_the_best_action():
    # the best action has prior weight 1e-310 and its rivals' terms underflow: V = Q_best + alpha log(1e-310);
    # the log1p form alone lost the weight (log1p(-1) = -inf)
    from rift_core.exact.rift import soft_backup

    Q = np.array([[60.0, 0.0, 0.0], [1.0, 0.5, 0.0]])
    pi_ref = np.array([[1e-310, 0.5, 0.5 - 1e-310], [1e-12, 0.5, 0.5 - 1e-12]])
    for alpha in (0.01, 0.1):
        V, pi, _, log_pi = soft_backup(Q, pi_ref, alpha)
        # the definition alpha log sum_a pi_ref e^{Q / alpha}, summed in logs (numpy's logaddexp, no cancellation)
        expected = [alpha * np.logaddexp.reduce(np.log(w) + q / alpha) for q, w in zip(Q, pi_ref)]
        np.testing.assert_allclose(V, expected, rtol=1e-14)
        assert np.isfinite(log_pi[:, 0]).all() and np.allclose(pi.sum(axis=1), 1.0)
