"""Every validation rule raises, and its message names the field (and index)."""

import numpy as np
import pytest
import scipy.sparse as sps

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, solve_rift, supervisors, tabular_envs
from rift_core.exact.instances import random_instance
from rift_core.exact.baselines import finetune
from rift_core.exact.planning import policy_iteration


def _good():
    P = np.full((3, 2, 3), 1 / 3)
    return P, np.zeros((3, 2)), np.full(3, 1 / 3)


def test_P_row_sum_names_index():
    P, r, rho = _good()
    P[1, 0, 2] = 0.3
    with pytest.raises(ValueError, match=r"P\[1, 0, :\] sums to 0.966667, expected 1"):
        FiniteMDP(P, r, rho, 0.9)


def test_P_negative_names_index():
    P, r, rho = _good()
    P[2, 1] = [0.8, -0.2, 0.4]
    with pytest.raises(ValueError, match=r"P\[2, 1, 1\] is -0.2, expected a probability"):
        FiniteMDP(P, r, rho, 0.9)


def test_P_shape():
    _, r, rho = _good()
    with pytest.raises(ValueError, match=r"P has shape \(3, 2, 2\)"):
        FiniteMDP(np.full((3, 2, 2), 0.5), r, rho, 0.9)


def test_P_nan_names_index():
    P, r, rho = _good()
    P[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"P\[0, 1, 1\] is nan"):
        FiniteMDP(P, r, rho, 0.9)


def test_sparse_P_row_sum_names_index():
    P, r, rho = _good()
    P2 = P.reshape(6, 3).copy()
    P2[3] = [0.5, 0.2, 0.2]
    with pytest.raises(ValueError, match=r"P\[1, 1, :\] sums to 0.9"):
        FiniteMDP(sps.csr_array(P2), r, rho, 0.9)


def test_sparse_P_negative_names_index():
    P, r, rho = _good()
    P2 = P.reshape(6, 3).copy()
    P2[5] = [0.8, -0.2, 0.4]
    with pytest.raises(ValueError, match=r"P\[2, 1, 1\] is -0.2"):
        FiniteMDP(sps.csr_array(P2), r, rho, 0.9)


def test_r_not_finite_names_index():
    P, r, rho = _good()
    r[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"r\[2, 1\] is inf"):
        FiniteMDP(P, r, rho, 0.9)


def test_r_shape():
    P, _, rho = _good()
    with pytest.raises(ValueError, match=r"r has shape \(2, 2\), expected \(3, 2\)"):
        FiniteMDP(P, np.zeros((2, 2)), rho, 0.9)


@pytest.mark.parametrize("gamma", [1.0, -0.1, 1.5])
def test_gamma_range(gamma):
    P, r, rho = _good()
    with pytest.raises(ValueError, match="gamma is"):
        FiniteMDP(P, r, rho, gamma)


def test_gamma_type():
    P, r, rho = _good()
    with pytest.raises(TypeError, match="gamma must be a real number"):
        FiniteMDP(P, r, rho, "0.9")


def test_rho_sum():
    P, r, _ = _good()
    with pytest.raises(ValueError, match="rho sums to 0.9"):
        FiniteMDP(P, r, np.array([0.3, 0.3, 0.3]), 0.9)


def test_beta_range_names_index():
    with pytest.raises(ValueError, match=r"beta\[1, 0\] is 1.2, expected a probability"):
        StopSupervisor(np.array([[0.0, 0.1], [1.2, 0.0]]))


def test_beta_shape_mismatch():
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    with pytest.raises(ValueError, match=r"beta has shape \(2, 2\), expected \(S, A\) = \(3, 2\)"):
        evaluate_policy(mdp, StopSupervisor(np.zeros((2, 2))), np.full((3, 2), 0.5))


def test_semantics_name():
    with pytest.raises(ValueError, match="semantics is 'halt'"):
        StopSupervisor(np.zeros((2, 2)), "halt")


def test_policy_row_names_index():
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    pi = np.full((3, 2), 0.5)
    pi[2] = [0.5, 0.4]
    with pytest.raises(ValueError, match=r"pi\[2, :\] sums to 0.9"):
        evaluate_policy(mdp, StopSupervisor(np.zeros((3, 2))), pi)


def test_pi0_names_field():
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    pi0 = np.full((3, 2), 0.5)
    pi0[0, 1] = -0.1
    with pytest.raises(ValueError, match=r"pi0\[0, 1\] is -0.1"):
        solve_rift(mdp, StopSupervisor(np.zeros((3, 2))), pi0, 1.0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, np.nan, np.inf])
def test_alpha_range(alpha):
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    with pytest.raises(ValueError, match="alpha is"):
        solve_rift(mdp, StopSupervisor(np.zeros((3, 2))), np.full((3, 2), 0.5), alpha)


def test_method_name():
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    with pytest.raises(ValueError, match="method is 'newton'"):
        solve_rift(mdp, StopSupervisor(np.zeros((3, 2))), np.full((3, 2), 0.5), 1.0, method="newton")


def test_mask_empty_row():
    P, r, rho = _good()
    mdp = FiniteMDP(P, r, rho, 0.9)
    mask = np.ones((3, 2), dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"mask\[1, :\] allows no action"):
        policy_iteration(mdp, StopSupervisor(np.zeros((3, 2))), r, mask)


def test_supervisor_parameters():
    task = tabular_envs.cliff_corridor()
    base = supervisors.safety(task.mdp, task.danger)
    with pytest.raises(ValueError, match="fp is 1.5"):
        supervisors.noisy(base, fp=1.5, fn=0.0)
    with pytest.raises(ValueError, match=r"danger\[0\] is 99"):
        supervisors.safety(task.mdp, [99])
    with pytest.raises(ValueError, match="temperature is 0"):
        supervisors.boltzmann(task.mdp, temperature=0.0)
    with pytest.raises(ValueError, match=r"p\[0, 0\] is 2"):
        supervisors.random_stops(task.mdp, np.full(task.mdp.r.shape, 2.0))
    with pytest.raises(ValueError, match="margin is -1"):
        supervisors.safety(task.mdp, task.danger, margin=-1)


def test_finetune_parameters():
    task = tabular_envs.cliff_corridor()
    sup = StopSupervisor(np.zeros(task.mdp.r.shape))
    pi0 = np.full(task.mdp.r.shape, 1 / 3)
    with pytest.raises(ValueError, match="learning_rate is -1"):
        finetune(task.mdp, sup, pi0, learning_rate=-1.0)
    with pytest.raises(TypeError, match="steps must be an integer"):
        finetune(task.mdp, sup, pi0, steps=2.5)


def test_generator_parameters():
    with pytest.raises(ValueError, match="n_successors is 9, expected at most n_states = 3"):
        tabular_envs.random_mdp(3, 2, n_successors=9)
    with pytest.raises(ValueError, match=r"layout\[0\]\[1\] is 'X'"):
        tabular_envs.gridworld(["SX", ".G"])
    with pytest.raises(ValueError, match="exactly one 'S'"):
        tabular_envs.gridworld(["..", ".G"])


# --- fail closed: inputs that used to pass silently ------------------------------------------------

def _small():
    from rift_core import tabular_envs
    mdp = tabular_envs.random_mdp(4, 3, gamma=0.9, seed=0)
    return mdp, StopSupervisor(np.full((4, 3), 0.1)), np.full((4, 3), 1 / 3)


def test_kl_and_policy_value_refuse_nan():
    from rift_core.exact.evaluation import kl_per_state, policy_value
    mdp, sup, pi0 = _small()
    with pytest.raises(ValueError, match=r"pi\[0, 0\] is nan"):
        kl_per_state(np.full((4, 3), np.nan), pi0)
    with pytest.raises(ValueError, match=r"x\[0, 0\] is nan"):
        policy_value(mdp, sup, pi0, np.full((4, 3), np.nan))


def test_mdp_and_supervisor_keep_read_only_copies():
    mdp0, _, _ = _small()
    P, beta = mdp0.P.copy(), np.full((4, 3), 0.1)
    mdp, sup = FiniteMDP(P, mdp0.r, mdp0.rho, 0.9), StopSupervisor(beta)
    P[0, 0, :] = 5.0
    beta[0, 0] = 7.0
    assert mdp.P[0, 0].sum() == pytest.approx(1.0) and sup.beta[0, 0] == 0.1
    with pytest.raises(ValueError, match="read-only"):
        mdp.P[0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="read-only"):
        sup.beta[0, 0] = 0.5


def test_empty_action_sets_and_complex_kernels_are_refused():
    with pytest.raises(ValueError, match="at least one state and one action"):
        FiniteMDP(np.zeros((2, 0, 2)), np.zeros((2, 0)), np.array([1.0, 0.0]), 0.9)
    mdp, _, _ = _small()
    with pytest.raises(TypeError, match="P must be real"):
        FiniteMDP(mdp.P.astype(complex), mdp.r, mdp.rho, 0.9)


def test_solvers_raise_at_once_on_a_non_finite_bound():
    from rift_core.exact.rift import soft_policy_iteration, soft_value_iteration
    mdp, sup, pi0 = _small()
    for solver in (soft_value_iteration, soft_policy_iteration):
        with pytest.raises(FloatingPointError, match="error bound is"), np.errstate(over="ignore", invalid="ignore"):
            solver(mdp, sup, np.full((4, 3), 1e308), pi0, 0.1, max_iterations=10**6)


def test_linear_rift_and_fitted_features_name_bad_input():
    from rift_core.data.learning import fitted_soft_q_iteration
    from rift_core.exact.linear import linear_rift, one_hot_features
    from rift_core.data.sampling import rollout
    mdp, sup, pi0 = _small()
    with pytest.raises(ValueError, match="weight_floor is -1"):
        linear_rift(mdp, sup, pi0, one_hot_features(4, 3), 0.1, weight_floor=-1)
    data = rollout(mdp, sup, pi0, 20, 10, seed=0)
    with pytest.raises(ValueError, match="features are too large"):
        fitted_soft_q_iteration(data, pi0, 0.1, 0.9, features=np.full((4, 3, 2), 1e200), pessimism="none")


def test_batched_path_validates_and_warns():
    from rift_core import tabular_envs
    from rift_core.exact.batched import solve_rift_batched, stack
    from rift_core.exact.rift import ConvergenceWarning
    from rift_core.exact.instances import RandomInstance
    inst = random_instance(np.random.default_rng(3))
    bad = RandomInstance(inst.mdp, inst.supervisor, inst.pi0, -1.0, inst.kind)
    with pytest.raises(ValueError, match=r"instances\[0\].alpha is -1"):
        stack([bad])
    batch = stack([inst])
    with pytest.raises(ValueError, match="tol is -1"):
        solve_rift_batched(batch, tol=-1.0)
    with pytest.raises(ValueError, match="max_iterations"):
        solve_rift_batched(batch, max_iterations=0)
    with pytest.warns(ConvergenceWarning, match="stopped at max_iterations=1"):
        solve_rift_batched(batch, tol=1e-300, max_iterations=1)


def test_sparse_sweep_checks_shapes_before_the_kernel():
    from rift_core import tabular_envs
    from rift_core.exact.sparse import soft_bellman_sweep
    mdp = tabular_envs.random_sparse_mdp(20, 3, n_successors=4, seed=0)
    sup = StopSupervisor(np.zeros((20, 3)))
    pi0 = np.full((20, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"x has shape \(20, 2\)"):
        soft_bellman_sweep(mdp, sup, np.zeros((20, 2)), pi0, 0.1, np.zeros(20))
    with pytest.raises(ValueError, match="pi_ref has shape"):
        soft_bellman_sweep(mdp, sup, np.zeros((20, 3)), pi0[:5], 0.1, np.zeros(20))


def test_discounted_solve_is_public_and_checks_its_input():
    from rift_core.exact.evaluation import discounted_solve, discounted_visitation, policy_kernel, policy_value
    mdp, sup, pi0 = _small()
    K = policy_kernel(mdp, sup, pi0)
    x = sup.learner_reward()
    np.testing.assert_allclose(discounted_solve(mdp, K, (pi0 * x).sum(axis=1)), policy_value(mdp, sup, pi0, x))
    np.testing.assert_allclose(discounted_solve(mdp, K, mdp.rho, transpose=True), discounted_visitation(mdp, sup, pi0))
    with pytest.raises(ValueError, match=r"K has shape \(3, 3\)"):
        discounted_solve(mdp, K[:3, :3], mdp.rho)
    with pytest.raises(ValueError, match=r"b\[1\] is nan"):
        discounted_solve(mdp, K, np.array([0.0, np.nan, 0.0, 0.0]))
