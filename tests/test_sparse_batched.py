"""The sparse solvers and the batched path agree with the exact dense solvers."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sps
from hypothesis import given

from rift_core import FiniteMDP, StopSupervisor, evaluate_policy, solve_rift, tabular_envs
from rift_core.exact.instances import random_instance
from rift_core.exact.batched import evaluate_batched, solve_rift_batched, stack
from rift_core.exact.planning import policy_iteration
from rift_core.exact.sparse import (contraction_modulus, modified_policy_iteration_sparse, policy_iteration_sparse,
                                    soft_value_iteration_sparse)
from strategies import instances


def _sparse(mdp):
    S, A = mdp.n_states, mdp.n_actions
    return FiniteMDP(sps.csr_array(mdp.P.reshape(S * A, S)), mdp.r, mdp.rho, mdp.gamma)


@given(instances(max_states=6, max_actions=3, gamma_max=0.95, alpha_range=(1e-3, 1e2)))
def test_sparse_solvers_match_dense_soft(inst):
    sparse = _sparse(inst.mdp)
    exact = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
    for solver in (soft_value_iteration_sparse, modified_policy_iteration_sparse, policy_iteration_sparse):
        sol = solver(sparse, inst.supervisor, inst.supervisor.learner_reward(), inst.pi0, inst.alpha, tol=1e-9)
        assert sol.error_bound <= 1e-9
        assert np.abs(sol.V - exact.V).max() <= 1e-9 + 1e-10
        np.testing.assert_allclose(sol.policy, exact.policy, atol=1e-6)


@pytest.mark.parametrize("semantics", ["terminate", "truncate"])
def test_sparse_hard_limit_matches_policy_iteration(semantics):
    mdp = tabular_envs.random_mdp(40, 4, gamma=0.95, seed=3, n_successors=5)
    sup = StopSupervisor(np.random.default_rng(4).uniform(0, 0.3, size=(40, 4)), semantics)
    x = sup.task_reward(mdp)
    ones = np.full((40, 4), 0.25)
    exact = policy_iteration(mdp, sup, x)
    for solver in (soft_value_iteration_sparse, modified_policy_iteration_sparse, policy_iteration_sparse):
        sol = solver(_sparse(mdp), sup, x, ones, 0.0, tol=1e-9)
        assert np.abs(sol.V - exact.V).max() <= 1e-9
        assert evaluate_policy(mdp, sup, sol.policy).task_return == pytest.approx(mdp.rho @ exact.V, abs=1e-8)


def test_contraction_modulus_by_hand():
    mdp = tabular_envs.random_mdp(3, 2, gamma=0.9, seed=0)
    beta = np.array([[0.2, 0.5], [0.1, 0.3], [0.4, 0.6]])
    assert contraction_modulus(mdp, StopSupervisor(beta)) == pytest.approx(0.9 * 0.9)
    assert contraction_modulus(mdp, StopSupervisor(beta, "truncate")) == 0.9


def test_large_random_sparse_mdp_is_valid():
    mdp = tabular_envs.random_sparse_mdp(5000, 3, 7, gamma=0.99, seed=1)
    assert mdp.is_sparse and mdp.transition_matrix.nnz <= 5000 * 3 * 7  # duplicate successors are summed
    sup = StopSupervisor(np.full((5000, 3), 0.05))
    sol = modified_policy_iteration_sparse(mdp, sup, sup.learner_reward(), np.full((5000, 3), 1 / 3), 0.1, tol=1e-8)
    assert np.isfinite(sol.V).all() and sol.error_bound <= 1e-8


def test_batched_equals_one_at_a_time():
    rng = np.random.default_rng(5)
    insts = [random_instance(rng, max_states=7, max_actions=4) for _ in range(60)]
    batch = stack(insts)
    sol = solve_rift_batched(batch)
    ev = evaluate_batched(batch, sol.policy)
    assert np.all(sol.error_bound <= 1e-10)
    for b, inst in enumerate(insts):
        S, A = inst.mdp.n_states, inst.mdp.n_actions
        one = solve_rift(inst.mdp, inst.supervisor, inst.pi0, inst.alpha)
        np.testing.assert_allclose(sol.V[b, :S], one.V, atol=1e-9)
        np.testing.assert_allclose(sol.policy[b, :S, :A], one.policy, atol=1e-8)
        assert np.all(sol.policy[b, :S, A:] == 0.0)  # padded actions are never taken
        e = evaluate_policy(inst.mdp, inst.supervisor, one.policy, inst.pi0)
        assert ev.task_return[b] == pytest.approx(e.task_return, abs=1e-9)
        assert ev.kl_cost[b] == pytest.approx(e.kl_cost, abs=1e-9)
        assert ev.p_stop[b] == pytest.approx(e.p_stop, abs=1e-9)


def test_stack_rejects_empty_and_sparse():
    with pytest.raises(ValueError, match="instances is empty"):
        stack([])
    inst = random_instance(np.random.default_rng(0))
    sparse = type(inst)(_sparse(inst.mdp), inst.supervisor, inst.pi0, inst.alpha, inst.kind)
    with pytest.raises(ValueError, match=r"instances\[0\] has a sparse MDP"):
        stack([sparse])


@pytest.mark.parametrize("semantics", ["terminate", "truncate"])
def test_iterative_policy_evaluation_matches_direct(monkeypatch, semantics):
    import rift_core.exact.evaluation as evaluation

    mdp = tabular_envs.random_sparse_mdp(600, 3, 6, gamma=0.99, seed=2)
    sup = StopSupervisor(np.random.default_rng(3).uniform(0, 0.2, size=(600, 3)), semantics)
    pi = tabular_envs.random_policy(600, 3, seed=4)
    pi0 = np.full((600, 3), 1 / 3)
    direct = evaluate_policy(mdp, sup, pi, pi0)
    monkeypatch.setattr(evaluation, "DIRECT_SOLVE_LIMIT", 10)
    iterative = evaluate_policy(mdp, sup, pi, pi0)
    for field in ("task_return", "stop_value", "kl_cost", "unsupervised_return"):
        assert getattr(iterative, field) == pytest.approx(getattr(direct, field), abs=1e-9 / (1 - mdp.gamma)), field


def test_sparse_operator_is_validated_once_and_checks_its_outputs():
    from rift_core.exact.sparse import SparseSoftBellman, soft_bellman_sweep

    mdp = tabular_envs.random_sparse_mdp(300, 3, 5, gamma=0.95, seed=1)
    sup = StopSupervisor(np.random.default_rng(0).uniform(0, 0.2, (300, 3)))
    pi0 = np.full((300, 3), 1 / 3)
    T = SparseSoftBellman(mdp, sup, -sup.beta, pi0, 0.3)
    V = np.random.default_rng(1).random(300)
    V_out, Q = np.empty(300), np.empty((300, 3))
    TV, Q_ret, d = T.apply(V, V_out, Q)
    assert TV is V_out and Q_ret is Q and T.modulus == pytest.approx(0.95 * float((1 - sup.beta).max()))
    ref = soft_bellman_sweep(mdp, sup, -sup.beta, pi0, 0.3, V)
    np.testing.assert_array_equal(TV, ref[0])
    assert d == ref[2] == np.abs(TV - V).max()
    for bad in (np.empty(299), np.empty(300, dtype=np.float32), np.empty(600)[::2]):
        with pytest.raises(ValueError, match="V_out"):
            T.apply(V, bad, Q)
    with pytest.raises(ValueError, match="Q_out"):
        T.apply(V, V_out, np.empty((3, 300)).T)
    with pytest.raises(ValueError, match="x"):
        SparseSoftBellman(mdp, sup, np.zeros((300, 2)), pi0, 0.3)
    with pytest.raises(ValueError, match="pi_ref"):
        SparseSoftBellman(mdp, sup, -sup.beta, pi0[:, :2], 0.3, validate_policy=False)


def test_bicgstab_solves_a_hand_computed_system():
    from rift_core.exact.krylov import bicgstab

    # M = I - diag(0.1, 0) - [[0, 0.5], [0.5, 0]] = [[0.9, -0.5], [-0.5, 1]]; M (1, 1) = (0.4, 0.5)
    ptr, idx, val = np.array([0, 1, 2]), np.array([1, 0], dtype=np.int32), np.array([0.5, 0.5])
    x, iterations, residual = bicgstab(ptr, idx, val, np.array([0.1, 0.0]), np.array([0.4, 0.5]), rtol=1e-14)
    np.testing.assert_allclose(x, [1.0, 1.0], rtol=0, atol=1e-14)
    assert 1 <= iterations <= 2 and residual <= 1e-14  # two unknowns: Krylov is exact within two products


def test_bicgstab_matches_a_direct_solve_and_fails_closed():
    from rift_core.exact.krylov import bicgstab

    rng = np.random.default_rng(0)
    n = 3000
    K = sps.random_array((n, n), density=8 / n, rng=rng, format="csr")
    K = sps.csr_array(K.multiply(1 / np.maximum(K.sum(axis=1), 1e-300)[:, None]))
    diag, val, b = rng.uniform(0, 0.05, n), 0.95 * 0.99 * K.data, rng.normal(size=n)
    x, iterations, residual = bicgstab(K.indptr, K.indices, val, diag, b, rtol=1e-12)
    M = (sps.identity(n) - sps.diags_array(diag) - sps.csr_array((val, K.indices, K.indptr), shape=(n, n))).tocsc()
    np.testing.assert_allclose(x, sps.linalg.spsolve(M, b), rtol=0, atol=1e-9)
    assert 0 < iterations < 100 and residual <= 1e-12 * np.linalg.norm(b)
    with pytest.raises(ValueError, match="b has a non-finite entry at index 7"):
        bicgstab(K.indptr, K.indices, val, diag, np.where(np.arange(n) == 7, np.nan, b))
    with pytest.raises(ValueError, match="column index"):
        bicgstab(K.indptr, np.where(np.arange(K.nnz) == 0, n, K.indices), val, diag, b)
    with pytest.raises(ValueError, match="inconsistent CSR"):
        bicgstab(K.indptr, K.indices, val, diag[:-1], b)
    bad_ptr = K.indptr.copy()
    bad_ptr[5] = bad_ptr[7] + 1  # rows 4 and 5 would read past row 6's entries
    with pytest.raises(ValueError, match="ptr must start at 0 and never decrease"):
        bicgstab(bad_ptr, K.indices, val, diag, b)
    for kwargs, name in (({"rtol": float("nan")}, "rtol"), ({"rtol": 0.0}, "rtol"), ({"reduction": 0.0}, "reduction"),
                         ({"maxiter": 0}, "maxiter")):
        with pytest.raises(ValueError, match=name):  # a NaN tolerance would otherwise run maxiter steps
            bicgstab(K.indptr, K.indices, val, diag, b, **kwargs)


def test_random_sparse_mdp_window_keeps_successors_local():
    S, A, w = 500, 3, 4
    P = tabular_envs.random_sparse_mdp(S, A, 6, seed=0, window=w).transition_matrix.tocoo()
    distance = np.abs(P.row // A - P.col)
    assert np.minimum(distance, S - distance).max() <= w  # modulo S: state 0's window wraps to S - w
    assert (np.minimum(distance, S - distance) == w).any()
    with pytest.raises(ValueError, match="window"):
        tabular_envs.random_sparse_mdp(S, A, 6, window=0)


def test_inexact_evaluations_keep_the_certified_answer():
    mdp = tabular_envs.random_sparse_mdp(3000, 3, 6, gamma=0.99, seed=4)
    sup = StopSupervisor(np.random.default_rng(5).uniform(0, 0.1, (3000, 3)))
    pi0 = np.full((3000, 3), 1 / 3)
    for alpha in (0.0, 0.1):
        exact = policy_iteration_sparse(mdp, sup, sup.task_reward(mdp), pi0, alpha, tol=1e-9)
        inexact = policy_iteration_sparse(mdp, sup, sup.task_reward(mdp), pi0, alpha, tol=1e-9, forcing=1e-3)
        assert exact.error_bound <= 1e-9 and inexact.error_bound <= 1e-9
        assert np.abs(exact.V - inexact.V).max() <= 2e-9
    with pytest.raises(ValueError, match="forcing"):
        policy_iteration_sparse(mdp, sup, sup.task_reward(mdp), pi0, 0.1, forcing=-1.0)


def _compiled_elementwise(fn):
    """``fn`` applied to every entry of a float64 array, compiled as the sweeps are (fused multiply-adds allowed) in
    a loop with unsigned indices, so that it compiles to SIMD code as the soft pass does."""
    import numba

    from rift_core.exact.sparse import _SWEEP_FLAGS

    @numba.njit(**_SWEEP_FLAGS)
    def apply(a):
        out = np.empty_like(a)
        for i in range(np.uint64(a.shape[0])):
            out[np.uint64(i)] = fn(a[np.uint64(i)])
        return out

    return apply


def test_the_soft_sweeps_exponential_is_libm_exp_to_a_few_ulps():
    import math

    from rift_core.exact.sparse import _exp

    exp_compiled = _compiled_elementwise(_exp)
    rng = np.random.default_rng(0)
    # the whole range, the reduction's breakpoints (n ln2 +- ln2 / 2) and the subnormal end
    y = np.r_[rng.uniform(-745.0, 0.0, 1_000_000), -np.arange(1075) * math.log(2) / 2 + rng.uniform(-1e-12, 1e-12, 1075),
              -1e-300, -0.0, 0.0, -745.0, -744.44, -708.4, -708.3, -710.0, -1e-9]
    y = np.clip(y, -745.0, 0.0)
    ours, libm = exp_compiled(y), np.array([math.exp(v) for v in y])
    normal = libm >= np.finfo(float).tiny
    ulps = np.abs(ours[normal] - libm[normal]) / np.spacing(libm[normal])
    assert ulps.max() <= 4, f"{ulps.max()} ulps at y = {y[normal][ulps.argmax()]}"
    # subnormal results: the absolute error is within a few of the smallest subnormal's spacing, 2^-1074
    assert np.abs(ours[~normal] - libm[~normal]).max() <= 4 * 2.0**-1074
    assert exp_compiled(np.array([0.0]))[0] == 1.0


def test_the_soft_sweeps_logarithm_is_libm_log_to_a_few_ulps():
    import math

    from rift_core.exact.sparse import _log

    log_compiled = _compiled_elementwise(_log)
    rng = np.random.default_rng(1)
    # (0, 1] uniformly and log-uniformly, every power of two down to the smallest subnormal, the reduction's
    # breakpoints sqrt(2) and sqrt(1/2), and just above 1 (a rounded ratio can exceed 1 by an ulp)
    z = np.r_[rng.uniform(0.0, 1.0, 500_000), np.exp(rng.uniform(-745.0, 0.0, 500_000)), 2.0 ** -np.arange(1075),
              np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 0.0), np.sqrt(0.5), np.nextafter(np.sqrt(0.5), 1.0),
              1.0, 1.0 + 2.0**-52, 1.0 - 2.0**-53, 5e-324, 2.2250738585072014e-308]
    z = z[z > 0]
    ours, libm = log_compiled(z), np.array([math.log(v) for v in z])
    ulps = np.abs(ours - libm) / np.spacing(np.abs(libm)).clip(min=np.spacing(0.0))
    assert ulps.max() <= 4, f"{ulps.max()} ulps at z = {z[ulps.argmax()]}"
    assert log_compiled(np.array([1.0]))[0] == 0.0


@pytest.mark.parametrize("semantics, A", [("terminate", 3), ("truncate", 3), ("truncate", 20)])
def test_the_fused_sweep_is_the_dense_backup_across_blocks(semantics, A):
    from rift_core.exact.rift import soft_backup
    from rift_core.exact.sparse import _BLOCK_PAIRS, SparseSoftBellman

    S = 2 * (_BLOCK_PAIRS // A) + 37  # two full blocks of the soft pass and a partial one
    mdp = tabular_envs.random_sparse_mdp(S, A, 4, gamma=0.97, seed=2)
    rng = np.random.default_rng(3)
    sup = StopSupervisor(rng.uniform(0, 0.3, (S, A)), semantics)
    pi0 = rng.dirichlet(np.ones(A), S)
    pi0[rng.random((S, A)) < 0.3] = 0.0  # actions off the support, some with the largest Q
    pi0[np.arange(S), rng.integers(0, A, S)] += 0.1
    pi0 /= pi0.sum(axis=1, keepdims=True)
    x = rng.normal(size=(S, A)) * 10.0  # with alpha 0.01, y reaches below -745 (exp underflows to 0)
    # state 0's best action has a subnormal prior weight: with alpha 0.01 the log's argument is subnormal too
    pi0[0], x[0] = np.r_[1e-310, 1.0 - 1e-310, np.zeros(A - 2)], np.r_[60.0, np.zeros(A - 1)]
    V = rng.normal(size=S)
    P = mdp.transition_matrix.toarray().reshape(S, A, S)
    beta = sup.beta
    stay = beta if semantics == "truncate" else 0.0
    Q_dense = x + mdp.gamma * ((1.0 - beta) * (P @ V) + stay * V[:, None])
    for alpha, layout in itertools.product((0.0, 0.01, 1.0), ("csr", "ell")):
        TV, Q, d = SparseSoftBellman(mdp, sup, x, pi0, alpha, layout=layout).apply(V)
        np.testing.assert_allclose(Q, Q_dense, rtol=1e-13, atol=1e-13)
        V_dense = np.where(pi0 > 0, Q_dense, -np.inf).max(axis=1) if alpha == 0 else soft_backup(Q_dense, pi0, alpha)[0]
        np.testing.assert_allclose(TV, V_dense, rtol=1e-13, atol=1e-13)
        assert d == np.abs(TV - V).max()


def test_sparse_policy_iteration_from_V0_reaches_the_same_solution():
    mdp = tabular_envs.random_sparse_mdp(400, 3, 5, gamma=0.98, seed=5)
    sup = StopSupervisor(np.random.default_rng(6).uniform(0, 0.2, (400, 3)))
    x, pi0 = sup.task_reward(mdp), np.full((400, 3), 1 / 3)
    for alpha in (0.0, 0.05):
        default = policy_iteration_sparse(mdp, sup, x, pi0, alpha, tol=1e-9)
        from_zero = policy_iteration_sparse(mdp, sup, x, pi0, alpha, tol=1e-9, V0=0.0)
        assert from_zero.converged and np.abs(from_zero.V - default.V).max() <= 2e-9
        np.testing.assert_allclose(from_zero.policy, default.policy, atol=1e-6)
    with pytest.raises(ValueError, match="V0"):
        policy_iteration_sparse(mdp, sup, x, pi0, 0.0, V0=np.zeros(3))


def test_hard_greedy_is_the_first_maximiser_on_the_support():
    from rift_core.exact.sparse import _hard_greedy

    rng = np.random.default_rng(7)
    Q = np.round(rng.normal(size=(500, 4)), 1)  # ties
    pi_ref = np.where(rng.random((500, 4)) < 0.3, 0.0, 1.0)
    pi_ref[np.arange(500), rng.integers(0, 4, 500)] = 1.0  # every row has support
    Q[pi_ref == 0] += 10.0  # the largest Q off the support must not be chosen
    policy, log_policy = _hard_greedy(Q, pi_ref)
    chosen = np.where(pi_ref > 0, Q, -np.inf).argmax(axis=1)  # numpy: the first maximiser
    expected = np.zeros((500, 4))
    expected[np.arange(500), chosen] = 1.0
    np.testing.assert_array_equal(policy, expected)
    np.testing.assert_array_equal(log_policy, np.where(expected > 0, 0.0, -np.inf))


@pytest.mark.parametrize("semantics", ["terminate", "truncate"])
def test_padded_and_csr_layouts_give_the_same_operator_bit_for_bit(semantics):
    from rift_core.exact.sparse import _BLOCK_PAIRS, SparseSoftBellman

    S, A = _BLOCK_PAIRS // 3 + 51, 3
    # successors within 3 states, drawn with replacement: duplicates are summed, so rows hold 2 to 5 entries
    mdp = tabular_envs.random_sparse_mdp(S, A, 5, gamma=0.97, seed=8, window=3)
    lengths = np.diff(mdp.transition_matrix.indptr)
    assert lengths.min() < lengths.max() == 5
    rng = np.random.default_rng(9)
    sup = StopSupervisor(rng.uniform(0, 0.3, (S, A)), semantics)
    pi0 = rng.dirichlet(np.ones(A), S)
    x, V = rng.normal(size=(S, A)), rng.normal(size=S)
    pi = rng.dirichlet(np.ones(A), S)
    pi[rng.random((S, A)) < 0.3] = 0.0  # rows of K_pi of varied length
    pi[np.arange(S), rng.integers(0, A, S)] += 0.1
    pi /= pi.sum(axis=1, keepdims=True)
    for alpha in (0.0, 0.01, 1.0):
        csr = SparseSoftBellman(mdp, sup, x, pi0, alpha, layout="csr")
        ell = SparseSoftBellman(mdp, sup, x, pi0, alpha, layout="ell")
        assert (csr.layout, ell.layout, ell.indptr.size, ell.data.size) == ("csr", "ell", 0, S * A * 5)
        for a, b in zip(csr.apply(V), ell.apply(V)):
            np.testing.assert_array_equal(a, b)
        V_given = V.copy()
        np.testing.assert_array_equal(csr.evaluate(pi, V, sweeps=3), ell.evaluate(pi, V, sweeps=3))
        np.testing.assert_array_equal(V, V_given)  # evaluation sweeps leave the caller's V alone
        np.testing.assert_array_equal(csr.evaluate(pi, None), ell.evaluate(pi, None))


def test_prefetch_hints_past_the_end_change_nothing():
    # the sweeps prefetch rows ahead of the loop, up to past the arrays' ends near the last states: a hint that
    # never faults and never changes a value
    import numba

    from rift_core.exact.krylov import _prefetch_padded_row

    @numba.njit
    def padded_sum(width, indices, data, ahead):
        total = 0.0
        for r in range(indices.shape[0] // len(width)):
            _prefetch_padded_row(width, indices, data, np.uint64(r + ahead))
            for j in range(r * len(width), (r + 1) * len(width)):
                total += data[j] * indices[j]
        return total

    rng = np.random.default_rng(3)
    indices, data = rng.integers(0, 50, 120).astype(np.uint32), rng.normal(size=120)
    for ahead in (0, 7, 10**9):
        assert padded_sum((0,) * 4, indices, data, ahead) == padded_sum((0,) * 4, indices, data, 0)
    np.testing.assert_allclose(padded_sum((0,) * 4, indices, data, 10**9), data @ indices)


def test_index_pair_reads_two_consecutive_column_indices():
    # one 8-byte load split in two for 4-byte indices (the top of the range included), two loads otherwise
    import numba

    from rift_core.exact._llvm import _index_pair

    @numba.njit
    def pairs(a):
        out = np.empty((a.shape[0] - 1, 2), dtype=np.uint64)
        for i in range(a.shape[0] - 1):
            out[i, 0], out[i, 1] = _index_pair(a, np.uint64(i))
        return out

    values = np.array([0, 1, 2**31, 2**32 - 1, 7, 2**32 - 2, 5])
    for dtype in (np.uint32, np.int64):
        a = values.astype(dtype)
        np.testing.assert_array_equal(pairs(a), np.c_[a[:-1], a[1:]].astype(np.uint64))


def test_layout_auto_pads_local_dynamics_only_and_bad_layouts_are_refused():
    from rift_core.exact.sparse import SparseSoftBellman

    S, A = 3000, 2
    sup, x, pi0 = StopSupervisor(np.zeros((S, A))), np.zeros((S, A)), np.full((S, A), 0.5)
    local = tabular_envs.random_sparse_mdp(S, A, 8, seed=1, window=20)
    anywhere = tabular_envs.random_sparse_mdp(S, A, 8, seed=1)
    assert SparseSoftBellman(local, sup, x, pi0, 0.1).layout == "ell"
    assert SparseSoftBellman(anywhere, sup, x, pi0, 0.1).layout == "csr"  # successors anywhere: the gather misses
    assert SparseSoftBellman(anywhere, sup, x, pi0, 0.1, layout="ell").layout == "ell"
    for bad in ("dense", None, ["ell"]):
        with pytest.raises(ValueError, match="layout must be one of"):
            SparseSoftBellman(local, sup, x, pi0, 0.1, layout=bad)
    wide = tabular_envs.random_sparse_mdp(S, A, 20, seed=1)  # rows of about 20 entries
    assert SparseSoftBellman(wide, sup, x, pi0, 0.1).layout == "csr"
    with pytest.raises(ValueError, match="1 to 16 entries"):
        SparseSoftBellman(wide, sup, x, pi0, 0.1, layout="ell")


def test_a_sweep_whose_Q_overflows_off_the_support_raises():
    # the maximum over pi_ref's support never sees the off-support action, so its Q = inf once went out silently
    from rift_core.exact.sparse import SparseSoftBellman

    S, A = 300, 2
    mdp = tabular_envs.random_sparse_mdp(S, A, 3, gamma=0.99, seed=4, window=2)
    sup = StopSupervisor(np.zeros((S, A)))
    pi_ref = np.tile([1.0, 0.0], (S, 1))
    x = np.zeros((S, A))
    x[:, 1] = 1.7e308  # + gamma P V with V = 1e308 overflows to inf on action 1 only
    V = np.full(S, 1e308)
    for alpha in (0.0, 0.1):
        for layout in ("csr", "ell"):
            T = SparseSoftBellman(mdp, sup, x, pi_ref, alpha, layout=layout)
            with pytest.raises(FloatingPointError, match="not finite"):
                T.apply(V)
    x[:, 1] = 0.0
    assert np.isfinite(SparseSoftBellman(mdp, sup, x, pi_ref, 0.1).apply(V)[1]).all()  # no overflow: no error
