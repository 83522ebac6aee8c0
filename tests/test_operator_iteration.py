"""One loop solves every exact problem (``rift_core.exact.rift.operator_iteration``): each method on each backend reaches
the same fixed point, its error bound is a true bound, and stopping early is one rule (a warning and
``converged=False``); a non-finite bound raises."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sps
from scipy.special import logsumexp

from rift_core import FiniteMDP
from rift_core.exact.batched import solve_rift_batched
from rift_core.exact.instances import random_instance
from rift_core.exact.rift import METHODS, ConvergenceWarning, DenseSoftBellman, operator_iteration
from rift_core.exact.sparse import SparseSoftBellman


def _backends(inst):
    mdp, sup = inst.mdp, inst.supervisor
    S, A = mdp.n_states, mdp.n_actions
    sparse = FiniteMDP(sps.csr_array(mdp.P.reshape(S * A, S)), mdp.r, mdp.rho, mdp.gamma)
    x = sup.learner_reward()
    return {"dense": DenseSoftBellman(mdp, sup, x, inst.pi0, inst.alpha),
            "csr": SparseSoftBellman(sparse, sup, x, inst.pi0, inst.alpha)}


class _Reference:
    """The fixed point by a plain soft value iteration written here, independent of the library's operators:
    ``Q = x + gamma K V`` with ``K`` built from ``P`` and ``beta`` by hand, ``V = alpha logsumexp(Q / alpha; pi0)``,
    iterated until a sweep moves V by ``d <= 1e-12``; then ``||V - V*|| <= gamma / (1 - gamma) d``."""

    def __init__(self, inst):
        P, beta, gamma, alpha = inst.mdp.P, inst.supervisor.beta, inst.mdp.gamma, inst.alpha
        x = inst.supervisor.learner_reward()
        V = np.zeros(inst.mdp.n_states)
        for _ in range(1_000_000):
            KV = (1.0 - beta) * (P @ V) + (beta * V[:, None] if inst.supervisor.semantics == "truncate" else 0.0)
            Q = x + gamma * KV
            V_new = alpha * logsumexp(Q / alpha, b=inst.pi0, axis=1)
            d = np.abs(V_new - V).max()
            if d <= 1e-12:
                break
            V = V_new
        self.V, self.error_bound = V_new, gamma / (1 - gamma) * d
        self.policy = inst.pi0 * np.exp((Q - V_new[:, None]) / alpha)


def _exact(inst):
    return _Reference(inst)


INSTANCES = [random_instance(np.random.default_rng(seed)) for seed in (1, 4, 9)]


@pytest.mark.parametrize("inst", INSTANCES, ids=lambda i: f"S{i.mdp.n_states}-gamma{i.mdp.gamma}")
@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_every_backend_reaches_the_fixed_point(inst, method):
    exact = _exact(inst)
    for name, T in _backends(inst).items():
        sol = operator_iteration(T, method, tol=1e-9)
        assert sol.converged and sol.error_bound <= 1e-9, name
        assert np.abs(sol.V - exact.V).max() <= 1e-9 + exact.error_bound, name
        np.testing.assert_allclose(sol.policy, exact.policy, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("method", METHODS)
def test_the_error_bound_bounds_the_error(method):
    # a loose tolerance, so that the bound is far from rounding and the check can fail
    for inst in INSTANCES:
        exact = _exact(inst)
        for T in _backends(inst).values():
            sol = operator_iteration(T, method, tol=1e-2, evaluation_sweeps=1)
            assert np.abs(sol.V - exact.V).max() <= sol.error_bound + exact.error_bound


@pytest.mark.parametrize("method", METHODS)
def test_stopping_early_is_a_warning_and_says_so(method):
    for name, T in _backends(INSTANCES[1]).items():
        with pytest.warns(ConvergenceWarning, match="stopped at max_iterations=1 with error bound"):
            sol = operator_iteration(T, method, tol=1e-300, max_iterations=1, name=name)
        assert not sol.converged and sol.iterations == 1 and sol.error_bound > 0


def test_policy_iteration_starts_at_the_reference_and_rises():
    inst = INSTANCES[1]
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        operator_iteration(_backends(inst)["dense"], "policy_iteration",
                           callback=lambda k, V, pi: seen.append((k, V.copy(), pi.copy())))
    assert [k for k, _, _ in seen] == list(range(1, len(seen) + 1))
    np.testing.assert_array_equal(seen[0][2], inst.pi0)
    for (_, V_prev, _), (_, V, _) in zip(seen, seen[1:]):
        assert (V >= V_prev - 1e-12).all()  # soft policy iteration's values rise monotonically


def test_bad_method_and_non_finite_bound():
    inst = INSTANCES[0]
    T = _backends(inst)["dense"]
    with pytest.raises(ValueError, match="method is 'newton'"):
        operator_iteration(T, "newton")
    with pytest.raises(TypeError, match="T is a FiniteMDP without apply, greedy, modulus, pi_ref, alpha, evaluate, x"):
        operator_iteration(inst.mdp)
    with pytest.raises(TypeError, match="T is a FiniteMDP without apply, greedy, modulus, pi_ref, alpha: .* for "
                                        "value_iteration"):
        operator_iteration(inst.mdp, "value_iteration")
    with pytest.raises(TypeError, match="batch is a list, expected a Batch"):
        solve_rift_batched([inst])
    with pytest.raises(ValueError, match="V0 has shape"):
        operator_iteration(T, "value_iteration", V0=np.zeros(inst.mdp.n_states + 1))
    S, A = inst.mdp.n_states, inst.mdp.n_actions
    huge = DenseSoftBellman(inst.mdp, inst.supervisor, np.full((S, A), 1e308), inst.pi0, inst.alpha)
    for method in METHODS:
        with pytest.raises(FloatingPointError, match="error bound is"), np.errstate(over="ignore", invalid="ignore"):
            operator_iteration(huge, method)
