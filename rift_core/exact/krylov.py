r"""BiCGSTAB for the discounted systems of policy evaluation, compiled and parallel.

Policy evaluation solves ``M x = b`` with ``M = I - D - C``: ``C`` a sparse
matrix in CSR form with the discount folded into its values (``gamma K_pi``,
or its transpose for visitations) and ``D`` a diagonal (the ``truncate``
semantics' stay-put mass ``gamma sum_a pi beta``). Every row of ``D + C`` has
mass ``<= gamma < 1``, so ``M`` is a nonsingular M-matrix whose spectrum lies in
the disc of radius ``gamma`` around 1: BiCGSTAB (van der Vorst, 1992) converges
in a few dozen products where Richardson sweeps need ``log(rtol) / log(gamma)``.

:func:`bicgstab` runs the whole iteration in one compiled function: each
product with ``M`` is a parallel pass over the CSR rows that also forms the
inner product the next step needs, so a step reads ``C`` twice and the vectors a
few times, with no Python in between (scipy's ``bicgstab`` spends more time in
its Python loop and vector operations than in its products at 10^5 states).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from .._validation import check_positive_int, check_scalar
from ._llvm import _index_pair, _prefetch

__all__ = ["bicgstab"]


def _compact_index(largest: int):
    """The index type of the compiled loops: ``uint32`` when every index fits, else ``int64``. Unsigned, because
    numba adds a negative-index wraparound to every read through a signed index, which cost the sweep a third of
    its time on the benchmark machine; 32 bits, because a sweep streams one column index per transition."""
    return np.uint32 if largest < 2**32 else np.int64


# The helpers below are compiled into rift_core.exact.sparse's cached kernels. numba's on-disk cache keys on the
# source file of the cached function only, so after editing them here (or in _llvm.py), delete
# rift_core/exact/__pycache__/*.nbi and *.nbc, or sparse.py's kernels keep the old code.
@intrinsic
def _layout_index(typingctx, width, i):
    """``i`` in the index type of the layout's loops over states and rows: ``np.uint64`` for a padded layout
    (``width`` a tuple of ``K`` zeros), ``i`` itself (signed) for CSR (``width = ()``). Chosen by measurement on the
    10^6-state benchmark: on local dynamics the unsigned loops (no wraparound check per read) ran 10% faster; with
    successors anywhere (CSR's case) they ran a third slower (51 against 37 ms). An intrinsic, so the type is
    chosen at compile time at no cost (written as a numba overload, the call cost the sweep 12%)."""
    if not isinstance(i, types.Integer):
        return None
    if len(width) == 0:
        return i(width, i), lambda context, builder, signature, args: args[1]
    return types.uint64(width, i), lambda context, builder, signature, args: context.cast(
        builder, args[1], signature.args[1], types.uint64)


@numba.njit(inline="always")
def _row_span(indptr, width, r):
    """Row ``r``'s entries ``[lo, hi)`` as ``np.uint64``: ``indptr[r], indptr[r + 1]`` of a CSR layout when ``width``
    is ``()``, and ``r K, r K + K`` of a padded (ELL) layout of ``K = len(width)`` entries per row when ``width`` is a
    tuple of that length. The length is part of the tuple's type, so numba compiles one loop per ``K`` with a
    constant trip count, which it unrolls. ``r`` must be a ``np.uint64``: numba adds a negative-index wraparound
    to every read through a signed index (see :func:`_compact_index`)."""
    if len(width) == 0:
        return np.uint64(indptr[r]), np.uint64(indptr[r + np.uint64(1)])
    k = np.uint64(len(width))
    return r * k, r * k + k


@numba.njit(inline="always")
def _prefetch_padded_row(width, indices, data, r):
    """Prefetch row ``r`` of a padded (ELL) layout of ``K = len(width) <= 16`` entries: ``data`` at its first and
    middle entries, ``indices`` at its first. Consecutive rows' hints are then at most 64 bytes apart (with 4-byte
    indices; 8-byte ones, past 2^32 states, leave every other line to the hardware), so the rows prefetched one
    after another touch every cache line. Nothing for CSR (``width = ()``): with successors anywhere, the sweep
    waits on its gathers from ``V``, and prefetches there made it slower (35 against 43-47 ms on the 10^6-state
    benchmark)."""
    if len(width) > 0:
        k = np.uint64(len(width))
        lo = r * k
        mid = lo + k // np.uint64(2)
        _prefetch(data, lo)
        _prefetch(data, mid)
        _prefetch(indices, lo)


@numba.njit(inline="always")
def _row_dot(indptr, width, indices, data, V, r):
    """``sum_j data[j] V[indices[j]]`` over row ``r`` (:func:`_row_span`), with two accumulators (two chains of
    adds in flight): the entries at even offsets into the first, odd ones into the second. A padded row is summed
    by a loop of constant trip count, which unrolls with no bounds to test; the order of the sums is the same, so
    both layouts give the same bits."""
    j, hi = _row_span(indptr, width, r)
    acc0 = 0.0
    acc1 = 0.0
    if len(width) > 0:
        for t in range(len(width) // 2):
            p = j + np.uint64(2 * t)
            c0, c1 = _index_pair(indices, p)
            acc0 += data[p] * V[c0]
            acc1 += data[p + np.uint64(1)] * V[c1]
        if len(width) % 2:
            acc0 += data[hi - np.uint64(1)] * V[indices[hi - np.uint64(1)]]
        return acc0 + acc1
    while j + np.uint64(1) < hi:
        acc0 += data[j] * V[indices[j]]
        acc1 += data[j + np.uint64(1)] * V[indices[j + np.uint64(1)]]
        j += np.uint64(2)
    if j < hi:
        acc0 += data[j] * V[indices[j]]
    return acc0 + acc1


@numba.njit(parallel=True, cache=True)
def _product(ptr, idx, val, diag, p, out, w):
    """``out = (I - D - C) p``; returns ``w . out`` and ``out . out``."""
    wo = 0.0
    oo = 0.0
    for s in numba.prange(p.shape[0]):
        acc = (1.0 - diag[s]) * p[s] - _row_dot(ptr, (), idx, val, p, np.uint64(s))
        out[s] = acc
        wo += w[s] * acc
        oo += acc * acc
    return wo, oo


@numba.njit(parallel=True, cache=True)
def _solve(ptr, idx, val, diag, b, x, rtol, reduction, maxiter):
    n = b.shape[0]
    r = np.empty(n)
    _, _ = _product(ptr, idx, val, diag, x, r, b)
    bb = 0.0
    rr = 0.0
    for s in numba.prange(n):
        r[s] = b[s] - r[s]
        bb += b[s] * b[s]
        rr += r[s] * r[s]
    target = min(rtol * math.sqrt(bb), reduction * math.sqrt(rr))
    if math.sqrt(rr) <= target:
        return x, 0, math.sqrt(rr)
    r_hat = r.copy()
    p = np.zeros(n)
    v = np.zeros(n)
    t = np.empty(n)
    rho, alpha, omega = 1.0, 1.0, 1.0
    rho_new = rr  # r_hat . r with r_hat = r
    for it in range(1, maxiter + 1):
        if rho_new == 0.0 or omega == 0.0:
            return x, -it, math.sqrt(rr)  # breakdown: the caller sees the residual it reached
        beta = (rho_new / rho) * (alpha / omega)
        for s in numba.prange(n):
            p[s] = r[s] + beta * (p[s] - omega * v[s])
        rhat_v, _ = _product(ptr, idx, val, diag, p, v, r_hat)
        if rhat_v == 0.0:
            return x, -it, math.sqrt(rr)
        alpha = rho_new / rhat_v
        ss = 0.0
        for s in numba.prange(n):
            r[s] -= alpha * v[s]  # r now holds s = r - alpha v
            ss += r[s] * r[s]
        if math.sqrt(ss) <= target:
            for i in numba.prange(n):
                x[i] += alpha * p[i]
            return x, it, math.sqrt(ss)
        ts, tt = _product(ptr, idx, val, diag, r, t, r)
        omega = ts / tt
        rho = rho_new
        rr = 0.0
        rho_new = 0.0
        for s in numba.prange(n):
            x[s] += alpha * p[s] + omega * r[s]
            r[s] -= omega * t[s]
            rr += r[s] * r[s]
            rho_new += r_hat[s] * r[s]
        if math.sqrt(rr) <= target:
            return x, it, math.sqrt(rr)
    return x, maxiter, math.sqrt(rr)


def bicgstab(ptr, idx, val, diag, b, x0=None, rtol: float = 1e-10, maxiter: int | None = None,
             reduction: float = 1.0):
    r"""Solve ``(I - D - C) x = b`` by BiCGSTAB to ``||b - M x||_2 <= min(rtol ||b||_2, reduction ||b - M x0||_2)``.

    ``reduction < 1`` makes a loose solve still improve on its start (an inexact Newton step that does nothing
    would stall the outer iteration).

    ``C`` is the CSR matrix ``(val, idx, ptr)`` of shape ``(n, n)`` and ``D = diag(diag)``; ``x0`` is the start
    (default ``b``). Returns ``(x, iterations, residual_norm)``; ``iterations`` is negative when the method broke
    down at that step (``x`` is then the last iterate) and equals ``maxiter`` (default ``10 n``, at least 1,000)
    when it ran out. The callers hold a certified stopping rule of their own and use this only to get close
    fast, so neither case raises here. A non-finite input, an index out of range or a bad tolerance does, naming the
    argument.
    """
    b = np.ascontiguousarray(b, dtype=np.float64)
    n = b.shape[0]
    ptr, idx = np.asarray(ptr), np.asarray(idx)
    if not (b.ndim == 1 and len(ptr) == n + 1 and len(idx) == len(val) == ptr[-1] and len(diag) == n):
        raise ValueError(f"inconsistent CSR system: {n} unknowns, ptr of length {len(ptr)}, idx {len(idx)}, "
                         f"val {len(val)}, diag {len(diag)}")
    # the compiled loops trust the row pointers and column indices: one out of range would read out of bounds
    steps = np.diff(ptr)
    if ptr[0] != 0 or (steps < 0).any():
        raise ValueError(f"ptr must start at 0 and never decrease (ptr[0] = {ptr[0]}, "
                         f"first decrease at row {int(np.argmax(steps < 0)) if (steps < 0).any() else None})")
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"idx has a column index outside [0, {n}) at position "
                         f"{int(np.flatnonzero((idx < 0) | (idx >= n))[0])}")
    rtol = check_scalar("rtol", rtol, low=0.0, low_open=True)
    reduction = check_scalar("reduction", reduction, low=0.0, high=1.0, low_open=True)
    x = b.copy() if x0 is None else np.array(x0, dtype=np.float64)
    if x.shape != (n,):
        raise ValueError(f"x0 has shape {x.shape}, expected ({n},)")
    for name, a in (("b", b), ("x0", x), ("val", val), ("diag", diag)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has a non-finite entry at index {int(np.flatnonzero(~np.isfinite(a))[0])}")
    maxiter = None if maxiter is None else check_positive_int("maxiter", maxiter)
    ptr, idx = ptr.astype(_compact_index(int(ptr[-1])), copy=False), idx.astype(_compact_index(n), copy=False)
    return _bicgstab_trusted(ptr, idx, np.ascontiguousarray(val, dtype=np.float64),
                             np.ascontiguousarray(diag, dtype=np.float64), b, x, rtol, reduction, maxiter)


def _bicgstab_trusted(ptr, idx, val, diag, b, x, rtol: float, reduction: float = 1.0, maxiter: int | None = None):
    """:func:`bicgstab` without its checks, for arrays this package built and validated itself (the sparse
    backend's policy rows): the checks read the whole matrix, about a tenth of a solve at 10^5 states."""
    maxiter = max(1000, 10 * len(b)) if maxiter is None else maxiter
    return _solve(ptr, idx, val, diag, b, np.array(x, dtype=np.float64), rtol, reduction, maxiter)
