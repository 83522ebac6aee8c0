"""(a) Fused sparse soft Bellman sweep against the time to stream the same bytes; a 10^6-state RIFT solve.

The streaming limit is a parallel pass (numba ``prange``, as many threads as
the sweep uses) that reads every array the sweep reads (CSR data, indices and
indptr; x, the stop coefficients, pi_ref's support and, for the soft sweep, its
weights; V) and writes every array it writes (V out, Q out), with no arithmetic
beyond a sum and no indirection: the
memory system's rate for exactly those bytes. fraction = limit time / sweep
time is the share of that rate the sweep reaches (1.0 would be memory-bound with
nothing lost to the gather ``V[indices[j]]`` or to arithmetic). A single-threaded
numpy read of the same bytes is printed for comparison: it is not the limit.

The gather limit is a second, tighter floor for this access pattern: a
parallel sparse matrix-vector product ``sum_j data[j] V[indices[j]]`` over the
same CSR rows, writing nothing, the faster of two compilations (vectorised
with ``fastmath``, whose gather instructions are slow on some processors, and
scalar with two accumulators, as the sweep is). Its indirect reads of ``V`` are the sweep's,
and on a random MDP (successors uniform over all states) they hit memory at
random, which no streaming pass pays. fraction of the gather limit = gather
time / sweep time: what the sweep loses to everything else (the backup, Q's
writes, the streams of x, pi_ref and the stop coefficients).
"""

import argparse
import time

import numba
import numpy as np

from _timing import spread


@numba.njit(parallel=True, fastmath=True)
def _read(a):
    total = 0.0
    for i in numba.prange(a.shape[0]):
        total += a[i]
    return total


@numba.njit(parallel=True, fastmath=True)
def _gather_vectorised(indptr, indices, data, V):
    total = 0.0
    for r in numba.prange(indptr.shape[0] - 1):
        acc = 0.0
        for j in range(indptr[r], indptr[r + 1]):
            acc += data[j] * V[indices[j]]
        total += acc
    return total


@numba.njit(parallel=True)
def _gather_scalar(indptr, indices, data, V):
    total = 0.0
    for r in numba.prange(indptr.shape[0] - 1):
        j, hi = indptr[r], indptr[r + 1]
        acc0 = 0.0
        acc1 = 0.0
        while j + 1 < hi:
            acc0 += data[j] * V[indices[j]]
            acc1 += data[j + 1] * V[indices[j + 1]]
            j += 2
        if j < hi:
            acc0 += data[j] * V[indices[j]]
        total += acc0 + acc1
    return total


def gather_limit(indptr, indices, data, V):
    """(minimum, median) time of the faster of the two gathers."""
    return min(spread(lambda: g(indptr, indices, data, V)) for g in (_gather_vectorised, _gather_scalar))


@numba.njit(parallel=True)
def _write(a):
    for i in numba.prange(a.shape[0]):
        a[i] = 0.0


def parallel_stream(reads, writes):
    """Read every array in ``reads`` and write every array in ``writes``, each by one parallel pass."""
    for a in reads:
        _read(a.reshape(-1))
    for a in writes:
        _write(a.reshape(-1))
from rift_core import StopSupervisor, evaluate_policy, tabular_envs
from rift_core.exact.sparse import (SparseSoftBellman, modified_policy_iteration_sparse, policy_iteration_sparse,
                                    soft_value_iteration_sparse)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--successors", type=int, default=10)
    parser.add_argument("--window", type=int, default=None,
                        help="successors within this many states of their state (local dynamics); default: anywhere")
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--skip-solve", action="store_true")
    args = parser.parse_args(argv)
    S, A = args.states, args.actions
    t = time.perf_counter()
    mdp = tabular_envs.random_sparse_mdp(S, A, args.successors, gamma=0.99, seed=0, window=args.window)
    rng = np.random.default_rng(1)
    beta = rng.uniform(0.0, 0.1, size=(S, A))
    sup = StopSupervisor(beta)
    pi0 = np.full((S, A), 1.0 / A)
    where = "uniform over all states" if args.window is None else f"within {args.window} states"
    print(f"MDP: {S} states x {A} actions, {args.successors} successors {where}, gamma 0.99, built in {time.perf_counter() - t:.1f} s; "
          f"numba threads: {numba.get_num_threads()}")
    x = np.ascontiguousarray(-beta)
    V = rng.random(S)
    V_out, Q = np.empty(S), np.empty((S, A))
    operators = {alpha: SparseSoftBellman(mdp, sup, x, pi0, alpha) for alpha in (0.1, 0.0)}
    gather = None
    for alpha, label in ((0.1, "soft (alpha = 0.1)"), (0.0, "hard max (alpha = 0)")):
        T = operators[alpha]
        # exactly what this sweep reads: the hard sweep reads pi_ref's support (one byte per pair), the soft sweep
        # its weights too; under terminate semantics (here) there is no stay term to read
        reads = [T.data, T.indices, T.indptr, T.x, T.gcont, T.gstay, T.support, V] + ([T.pi_ref] if alpha else [])
        writes = [V_out, Q]
        nbytes = sum(a.nbytes for a in reads + writes)
        stream, stream_med = spread(lambda: parallel_stream(reads, writes))
        single, single_med = spread(lambda: [a.sum() for a in reads + writes])
        print(f"{label}: streaming limit, {nbytes / 1e9:.2f} GB read and written in parallel: {stream * 1e3:.1f} ms "
              f"(median {stream_med * 1e3:.1f} ms), {nbytes / stream / 1e9:.0f} GB/s; "
              f"a single-threaded numpy read of the same bytes: {single * 1e3:.1f} ms ({nbytes / single / 1e9:.0f} GB/s)")
        if gather is None:
            gather, gather_med = gather_limit(T.indptr, T.indices, T.data, V)
            print(f"gather limit, the same rows' sparse product with V and nothing else: {gather * 1e3:.1f} ms "
                  f"(median {gather_med * 1e3:.1f} ms)")
        sweep, sweep_med = spread(lambda: T.apply(V, V_out, Q))
        print(f"{label:22s} sweep {sweep * 1e3:6.1f} ms (median {sweep_med * 1e3:6.1f}) "
              f"| fraction of the streaming limit: {stream / sweep:.2f} (medians: {stream_med / sweep_med:.2f}) "
              f"| of the gather limit: {gather / sweep:.2f} (medians: {gather_med / sweep_med:.2f})")
    if args.skip_solve:
        return
    for name, solver, kwargs in (("soft value iteration", soft_value_iteration_sparse, {}),
                                 ("soft modified policy iteration", modified_policy_iteration_sparse, {"evaluation_sweeps": 20}),
                                 ("soft policy iteration (BiCGSTAB)", policy_iteration_sparse, {})):
        t = time.perf_counter()
        sol = solver(mdp, sup, x, pi0, 0.1, tol=args.tol, validate_policy=False, **kwargs)
        print(f"RIFT solve, {name}: {time.perf_counter() - t:.1f} s, {sol.iterations} iterations, "
              f"guaranteed ||V - V*|| <= {sol.error_bound:.1e}")
    t = time.perf_counter()
    ev = evaluate_policy(mdp, sup, sol.policy, pi0)
    print(f"exact evaluation of the solution (iterative, certified): {time.perf_counter() - t:.1f} s; "
          f"J_I = {ev.stop_value:.6f}, rho . V = {mdp.rho @ sol.V:.6f} + alpha D = {mdp.rho @ sol.V + 0.1 * ev.kl_cost:.6f}")


if __name__ == "__main__":
    main()
