"""Supervisor strategies against hand-computed stop tables."""

import numpy as np
import pytest

from rift_core import StopSupervisor, supervisors, tabular_envs
from rift_core.exact.planning import optimal_task_advantage


@pytest.fixture
def corridor():
    return tabular_envs.cliff_corridor(length=4, p_fall=0.3, gamma=0.9)


def test_safety_stops_exactly_the_edge_moves(corridor):
    beta = supervisors.safety(corridor.mdp, corridor.danger).beta
    expected = np.zeros((6, 3))
    expected[:4, 2] = 1.0  # edge can fall; forward and stay cannot; nobody stops inside the cliff
    np.testing.assert_array_equal(beta, expected)


def test_safety_margin_on_a_line():
    # A chain 0 - 1 - 2 - 3 with danger at 3; action 0 moves right, action 1 stays.
    P = np.zeros((4, 2, 4))
    for s in range(4):
        P[s, 0, min(s + 1, 3)] = 1.0
        P[s, 1, s] = 1.0
    from rift_core import FiniteMDP

    mdp = FiniteMDP(P, np.zeros((4, 2)), np.array([1.0, 0, 0, 0]), 0.9)
    np.testing.assert_array_equal(supervisors.danger_distance(mdp, [3]), [3, 2, 1, 0])
    # margin 1: stop moves into a state within 1 step of danger (2 or 3), and staying at 2
    beta = supervisors.safety(mdp, [3], margin=1).beta
    np.testing.assert_array_equal(beta, [[0, 0], [1, 0], [1, 1], [0, 0]])


def test_noisy_formula(corridor):
    base = supervisors.safety(corridor.mdp, corridor.danger)
    beta = supervisors.noisy(base, fp=0.05, fn=0.2).beta
    assert beta[0, 2] == pytest.approx(0.8)   # a stop missed with probability fn
    assert beta[0, 0] == pytest.approx(0.05)  # a false stop with probability fp


def test_exempting_never_stops_noops(corridor):
    sup = supervisors.noisy(supervisors.safety(corridor.mdp, corridor.danger), 0.1, 0.0).exempting(corridor.noop)
    assert np.all(sup.beta[corridor.noop] == 0.0)
    assert sup.beta[0, 0] == pytest.approx(0.1)


def test_precise_and_boltzmann(corridor):
    A_star = optimal_task_advantage(corridor.mdp)
    # Optimal actions have zero advantage and are never stopped by precise.
    assert np.all(A_star <= 1e-12)
    precise = supervisors.precise(corridor.mdp, delta=0.05).beta
    np.testing.assert_array_equal(precise, (A_star < -0.05).astype(float))
    soft = supervisors.boltzmann(corridor.mdp, temperature=1e-4, delta=0.05).beta
    far = np.abs(A_star + 0.05) > 1e-2
    np.testing.assert_allclose(soft[far], precise[far], atol=1e-12)
    mid = supervisors.boltzmann(corridor.mdp, temperature=0.1, delta=0.0).beta
    np.testing.assert_allclose(mid, 1 / (1 + np.exp(A_star / 0.1)), rtol=1e-12)


def test_anti_aligned_stops_optimal_actions(corridor):
    A_star = optimal_task_advantage(corridor.mdp)
    beta = supervisors.anti_aligned(corridor.mdp, p=0.7).beta
    np.testing.assert_array_equal(beta, 0.7 * (A_star >= -1e-9))
    assert np.all(beta.max(axis=1) == 0.7)  # every state has a stopped best action


def test_random_stops(corridor):
    sup = supervisors.random_stops(corridor.mdp, 0.1, semantics="truncate")
    assert np.all(sup.beta == 0.1) and sup.semantics == "truncate"


def test_with_semantics_keeps_beta(corridor):
    sup = StopSupervisor(np.full((6, 3), 0.2), "terminate", "x")
    other = sup.with_semantics("truncate")
    assert other.semantics == "truncate" and np.array_equal(other.beta, sup.beta)


def test_kernel_by_hand_under_both_semantics():
    from rift_core import FiniteMDP, StopSupervisor

    # two states, one action: from 0 go to 1 w.p. 0.25, stay w.p. 0.75; from 1 go to 0
    P = np.array([[[0.75, 0.25]], [[1.0, 0.0]]])
    mdp = FiniteMDP(P, np.zeros((2, 1)), np.array([1.0, 0.0]), 0.9)
    beta = np.array([[0.2], [0.5]])
    terminate = StopSupervisor(beta).kernel(mdp)
    np.testing.assert_allclose(terminate[:, 0, :], [[0.6, 0.2], [0.5, 0.0]], rtol=0, atol=1e-15)
    truncate = StopSupervisor(beta, "truncate").kernel(mdp)
    np.testing.assert_allclose(truncate[:, 0, :], [[0.8, 0.2], [0.5, 0.5]], rtol=0, atol=1e-15)
    V = np.array([1.0, -2.0])
    for sup, K in ((StopSupervisor(beta), terminate), (StopSupervisor(beta, "truncate"), truncate)):
        np.testing.assert_allclose(K @ V, sup.expected_next(mdp, V), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="beta"):
        StopSupervisor(np.zeros((3, 1))).kernel(mdp)


def test_dense_operator_names_a_bad_value_vector():
    from rift_core import FiniteMDP, StopSupervisor
    from rift_core.exact.rift import DenseSoftBellman

    P = np.array([[[0.75, 0.25]], [[1.0, 0.0]]])
    mdp = FiniteMDP(P, np.zeros((2, 1)), np.array([1.0, 0.0]), 0.9)
    T = DenseSoftBellman(mdp, StopSupervisor(np.zeros((2, 1))), np.ones((2, 1)), np.ones((2, 1)), 0.5)
    TV, Q, d = T.apply([0, 0])  # a list is converted
    np.testing.assert_allclose(TV, [1.0, 1.0]) and np.testing.assert_allclose(Q, [[1.0], [1.0]])
    with pytest.raises(ValueError, match=r"V\[1\] is nan"):
        T.apply(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="V has shape"):
        T.apply(np.zeros(3))
