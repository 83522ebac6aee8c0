"""Exact evaluation against hand-computed values and against Monte Carlo."""

import numpy as np
import pytest

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, kl_per_state, no_stops
from rift_core.exact.evaluation import discounted_visitation, policy_value


def _one_state(beta=0.2, reward=1.0, gamma=0.9, semantics="terminate"):
    mdp = FiniteMDP(np.ones((1, 1, 1)), np.array([[reward]]), np.array([1.0]), gamma)
    return mdp, StopSupervisor(np.array([[beta]]), semantics)


def test_one_state_terminate_by_hand():
    # Each step survives with 1 - b: p_stop = sum_t g^t (1-b)^t b = b / (1 - g (1 - b)),
    # J_r = (1 - b) r / (1 - g (1 - b)), unsupervised J_r^0 = r / (1 - g).
    b, g = 0.2, 0.9
    mdp, sup = _one_state(b, 1.0, g)
    ev = evaluate_policy(mdp, sup, np.ones((1, 1)), np.ones((1, 1)))
    assert ev.p_stop == pytest.approx(b / (1 - g * (1 - b)), rel=1e-14)
    assert ev.task_return == pytest.approx((1 - b) / (1 - g * (1 - b)), rel=1e-14)
    assert ev.unsupervised_return == pytest.approx(1 / (1 - g), rel=1e-14)
    assert ev.kl_cost == 0.0
    assert ev.occupancy[0] == pytest.approx((1 - g) / (1 - g * (1 - b)), rel=1e-14)
    assert ev.catastrophe_return(10.0) == pytest.approx(ev.task_return - 10 * ev.p_stop)


def test_one_state_truncate_by_hand():
    # Halted steps still count: expected discounted number of stops b / (1 - g).
    b, g = 0.2, 0.9
    mdp, sup = _one_state(b, 1.0, g, "truncate")
    ev = evaluate_policy(mdp, sup, np.ones((1, 1)))
    assert ev.p_stop == pytest.approx(b / (1 - g), rel=1e-14)
    assert ev.task_return == pytest.approx((1 - b) / (1 - g), rel=1e-14)
    assert ev.occupancy.sum() == pytest.approx(1.0, rel=1e-14)
    assert ev.kl_cost is None


def test_kl_per_state_by_hand():
    pi = np.array([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [1.0, 0.0, 0.0]])
    pi0 = np.array([[0.25, 0.25, 0.5], [0.5, 0.5, 0.0], [1.0 - 1e-12, 1e-12, 0.0]])
    kl = kl_per_state(pi, pi0)
    assert kl[0] == pytest.approx(np.log(2.0), rel=1e-14)
    assert kl[1] == np.inf  # mass on an action the prior never takes
    assert kl[2] == pytest.approx(-np.log1p(-1e-12), rel=1e-6)


def test_kl_accurate_near_prior():
    # KL(pi || pi0) ~ sum d^2 / (2 pi0) for pi = pi0 + d: no cancellation at d = 1e-9.
    pi0 = np.array([[0.3, 0.7]])
    d = 1e-9
    pi = pi0 + np.array([[d, -d]])
    expected = 0.5 * d**2 * (1 / 0.3 + 1 / 0.7)
    assert kl_per_state(pi, pi0)[0] == pytest.approx(expected, rel=1e-5)


def test_monte_carlo_agrees(small_mdp, small_supervisor):
    """Exact J_r and p_stop against 40,000 sampled episodes (5 sigma bands)."""
    mdp, sup = small_mdp, small_supervisor
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(3), size=4)
    ev = evaluate_policy(mdp, sup, pi)
    n, horizon = 40_000, 200  # gamma^200 < 1e-9
    s = rng.choice(4, size=n, p=mdp.rho)
    alive = np.ones(n, dtype=bool)
    ret = np.zeros(n)
    stop = np.zeros(n)
    disc = 1.0
    for _ in range(horizon):
        a = (rng.uniform(size=(n, 1)) > np.cumsum(pi[s], axis=1)).sum(axis=1)
        stopped = alive & (rng.uniform(size=n) < sup.beta[s, a])
        stop += disc * stopped
        alive &= ~stopped
        ret += disc * alive * mdp.r[s, a]
        nxt = (rng.uniform(size=(n, 1)) > np.cumsum(mdp.P[s, a], axis=1)).sum(axis=1)
        s = np.where(alive, nxt, s)
        disc *= mdp.gamma
    for est, exact in ((ret, ev.task_return), (stop, ev.p_stop)):
        assert abs(est.mean() - exact) <= 5 * est.std() / np.sqrt(n)


def test_values_consistent(small_mdp, small_supervisor):
    pi = np.full((4, 3), 1 / 3)
    y = discounted_visitation(small_mdp, small_supervisor, pi)
    V = policy_value(small_mdp, small_supervisor, pi, small_mdp.r)
    # rho . V_x = y . x_pi for any x (the two sides of one linear system)
    assert small_mdp.rho @ V == pytest.approx(y @ (pi * small_mdp.r).sum(axis=1), rel=1e-12)


def test_unsupervised_equals_no_stops(small_mdp, small_supervisor):
    pi = np.full((4, 3), 1 / 3)
    ev = evaluate_policy(small_mdp, small_supervisor, pi)
    ev0 = evaluate_policy(small_mdp, no_stops(small_mdp), pi)
    assert ev.unsupervised_return == pytest.approx(ev0.task_return, rel=1e-12)
    assert ev0.p_stop == 0.0


def test_sparse_and_dense_agree():
    import scipy.sparse as sps

    from rift_core import solve_rift, tabular_envs

    dense = tabular_envs.random_mdp(12, 3, gamma=0.95, seed=7, n_successors=3)
    sparse = FiniteMDP(sps.csr_array(dense.P.reshape(36, 12)), dense.r, dense.rho, dense.gamma)
    beta = np.random.default_rng(8).uniform(0, 0.3, size=(12, 3))
    pi0 = tabular_envs.random_policy(12, 3, seed=9)
    for semantics in ("terminate", "truncate"):
        sup = StopSupervisor(beta, semantics)
        a, b = solve_rift(dense, sup, pi0, 0.2), solve_rift(sparse, sup, pi0, 0.2)
        np.testing.assert_allclose(a.V, b.V, atol=1e-11)
        ea, eb = evaluate_policy(dense, sup, a.policy, pi0), evaluate_policy(sparse, sup, b.policy, pi0)
        assert ea.task_return == pytest.approx(eb.task_return, abs=1e-11)
        assert ea.kl_cost == pytest.approx(eb.kl_cost, abs=1e-11)
