"""(a) Fused sparse soft Bellman sweep against the time to stream the same bytes; a 10^6-state RIFT solve.

The streaming limit is the faster of two parallel passes (numba ``prange``, as
many threads as the sweep uses) that read every array the sweep reads (the
transitions' weights and column indices, and their row pointers in the CSR
layout; x, the stop coefficients, pi_ref's support and, for the soft sweep, its
weights; V) and write every array it writes (V out, Q out), with no arithmetic
beyond a sum and no indirection: one pass per array, and one pass over blocks of
states that reads each block's share of every array, as the sweep does (several
streams at once per thread, which some memory systems need to reach their peak).
It is the memory system's rate for exactly those bytes. fraction = limit time /
sweep time is the share of that rate the sweep reaches (1.0 would be
memory-bound with nothing lost to the gather ``V[indices[j]]`` or to arithmetic).
A single-threaded numpy read of the same bytes is printed for comparison: it is
not the limit.

The gather limit is a second, tighter floor for this access pattern: a
parallel sparse matrix-vector product ``sum_j data[j] V[indices[j]]`` over the
same rows (for the padded layout, as CSR rows of the padded width), writing
nothing, the faster of two compilations (vectorised with ``fastmath``, whose
gather instructions are slow on some processors, and scalar with two
accumulators, as the sweep is). Its indirect reads of ``V`` are the sweep's, and
on a random MDP (successors uniform over all states) they hit memory at random,
which no streaming pass pays. fraction of the gather limit = gather time / sweep
time: what the sweep loses to everything else (the backup, Q's writes, the
streams of x, pi_ref and the stop coefficients).

Every floor and the sweep are timed interleaved (``_timing.interleaved``: each
round runs each once, in turn), and the fractions are ratios of minima, with the
median of the per-round ratios beside them.
"""

import argparse
import itertools
import time

import numba
import numpy as np

from _timing import interleaved


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


@numba.njit(inline="always")
def _sum(a, lo, hi):
    """``sum(a[lo:hi])`` through unsigned indices (numba checks a signed index for wraparound, which keeps the loop
    from compiling to SIMD code)."""
    acc = 0.0
    for j in range(np.uint64(lo), np.uint64(hi)):
        acc += a[np.uint64(j)]
    return acc


@numba.njit(parallel=True, fastmath=True)
def _stream_blocks(starts, data, indices, indptr, x, gcont, gstay, support, weight, V, V_out, Q, block):
    """Each block of ``block`` states reads its share of every array and writes its share of ``V_out`` and ``Q``;
    the block's transitions are ``starts[b]:starts[b + 1]``."""
    S = V.shape[0]
    A = Q.shape[0] // S
    total = 0.0
    for b in numba.prange(starts.shape[0] - 1):
        s0, s1 = b * block, min(S, b * block + block)
        r0, r1 = s0 * A, s1 * A
        acc = _sum(data, starts[b], starts[b + 1]) + _sum(indices, starts[b], starts[b + 1]) + _sum(V, s0, s1)
        acc += _sum(x, r0, r1) + _sum(gcont, r0, r1) + _sum(support, r0, r1)
        if indptr.shape[0] > 0:
            acc += _sum(indptr, r0, r1 + 1)
        if gstay.shape[0] > 0:
            acc += _sum(gstay, r0, r1)
        if weight.shape[0] > 0:
            acc += _sum(weight, r0, r1)
        for s in range(np.uint64(s0), np.uint64(s1)):
            V_out[np.uint64(s)] = 0.0
        for r in range(np.uint64(r0), np.uint64(r1)):
            Q[np.uint64(r)] = 0.0
        total += acc
    return total


def row_pointers(T):
    """CSR row pointers of the operator's transition arrays (for the padded layout, rows of its width)."""
    if T.layout == "csr":
        return T.indptr
    return np.arange(0, T.data.shape[0] + 1, len(T.width), dtype=np.uint32 if T.data.shape[0] < 2**32 else np.int64)


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


def block_stream(T, V, V_out, Q, soft: bool, block: int = 256):
    """A callable that streams exactly the arrays ``T.apply`` touches, by blocks of states (:func:`_stream_blocks`)."""
    S, A = T.shape
    ptr = row_pointers(T).astype(np.int64)
    starts = ptr[np.minimum(np.arange(0, S + block, block), S) * A]
    weight = T.pi_ref.reshape(-1) if soft else np.empty(0)
    args = (starts, T.data, T.indices, T.indptr, T.x.reshape(-1), T.gcont, T.gstay, T.support, weight, V, V_out,
            Q.reshape(-1), block)
    return lambda: _stream_blocks(*args)


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
    parser.add_argument("--layout", choices=("auto", "csr", "ell"), default="auto",
                        help="the operator's transition layout (SparseSoftBellman's layout)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--runs", type=int, default=1,
                        help="measure this many times over the same MDP (a shared host's memory bandwidth changes "
                             "from second to second: each run prints its own limit in GB/s)")
    parser.add_argument("--skip-solve", action="store_true")
    args = parser.parse_args(argv)
    for name in ("states", "actions", "successors", "repeats", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
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
    operators = {alpha: SparseSoftBellman(mdp, sup, x, pi0, alpha, layout=args.layout) for alpha in (0.1, 0.0)}
    layout = operators[0.0].layout
    print(f"transition layout: {layout}" + (f" (rows padded to {len(operators[0.0].width)} entries, "
                                            f"{operators[0.0].data.size / mdp.transition_matrix.nnz - 1:.1%} padding)"
                                            if layout == "ell" else ""))
    for run, (alpha, label) in itertools.product(range(args.runs), ((0.1, "soft (alpha = 0.1)"),
                                                                    (0.0, "hard max (alpha = 0)"))):
        if args.runs > 1:
            label = f"run {run + 1}, {label}"
        T = operators[alpha]
        # exactly what this sweep reads: the hard sweep reads pi_ref's support (one byte per pair), the soft sweep
        # its weights too; under terminate semantics (here) there is no stay term to read
        reads = [T.data, T.indices, T.indptr, T.x, T.gcont, T.gstay, T.support, V] + ([T.pi_ref] if alpha else [])
        writes = [V_out, Q]
        nbytes = sum(a.nbytes for a in reads + writes)
        ptr = row_pointers(T)
        # the sweep runs between the two streaming passes, so that a change in the host's memory bandwidth (which
        # on shared machines comes and goes within a second) falls on the sweep and its limit alike
        t = interleaved({
            "one pass by blocks of states": block_stream(T, V, V_out, Q, alpha > 0),
            "sweep": lambda: T.apply(V, V_out, Q),
            "one pass per array": lambda: parallel_stream(reads, writes),
            "gather (vectorised)": lambda: _gather_vectorised(ptr, T.indices, T.data, V),
            "gather (scalar)": lambda: _gather_scalar(ptr, T.indices, T.data, V),
            "single-threaded numpy read": lambda: [a.sum() for a in reads + writes],
        }, args.repeats)
        stream_name = min(("one pass per array", "one pass by blocks of states"), key=lambda n: t[n].min())
        gather_name = min(("gather (vectorised)", "gather (scalar)"), key=lambda n: t[n].min())
        stream, gather, sweep, single = t[stream_name], t[gather_name], t["sweep"], t["single-threaded numpy read"]
        print(f"{label}: streaming limit, {nbytes / 1e9:.2f} GB read and written in parallel ({stream_name}, the "
              f"faster): {stream.min() * 1e3:.1f} ms (median {np.median(stream) * 1e3:.1f} ms), "
              f"{nbytes / stream.min() / 1e9:.0f} GB/s (one pass per array {t['one pass per array'].min() * 1e3:.1f} ms, "
              f"by blocks {t['one pass by blocks of states'].min() * 1e3:.1f} ms); "
              f"a single-threaded numpy read of the same bytes: {single.min() * 1e3:.1f} ms "
              f"({nbytes / single.min() / 1e9:.0f} GB/s)")
        print(f"{label}: gather limit, the same rows' sparse product with V and nothing else ({gather_name}): "
              f"{gather.min() * 1e3:.1f} ms (median {np.median(gather) * 1e3:.1f} ms)")
        print(f"{label:22s} sweep {sweep.min() * 1e3:6.1f} ms (median {np.median(sweep) * 1e3:6.1f}) "
              f"| fraction of the streaming limit: {stream.min() / sweep.min():.2f} "
              f"(median of the rounds: {np.median(stream / sweep):.2f}) "
              f"| of the gather limit: {gather.min() / sweep.min():.2f} (median of the rounds: {np.median(gather / sweep):.2f})")
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
