"""Every validation rule raises, and its message names the field (and index)."""

import numpy as np
import pytest
import scipy.sparse as sps

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, solve_rift, supervisors, tabular_envs
from rift_core.baselines import finetune
from rift_core.planning import policy_iteration


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
