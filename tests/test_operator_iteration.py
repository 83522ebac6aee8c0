"""One loop solves every exact problem (``rift_core.exact.rift.operator_iteration``): each method on each backend reaches
the same fixed point, its error bound is a true bound, and stopping early is one rule (a warning and
``converged=False``); a non-finite bound raises."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sps

from rift_core import FiniteMDP, solve_rift
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


def _exact(inst):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the reference may stop on the rounding floor
        return solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha, tol=1e-12)


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
    S, A = inst.mdp.n_states, inst.mdp.n_actions
    huge = DenseSoftBellman(inst.mdp, inst.supervisor, np.full((S, A), 1e308), inst.pi0, inst.alpha)
    for method in METHODS:
        with pytest.raises(FloatingPointError, match="error bound is"), np.errstate(over="ignore", invalid="ignore"):
            operator_iteration(huge, method)
