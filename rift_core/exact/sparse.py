r"""Large sparse MDPs: a fused, parallel soft Bellman sweep and exact solvers built on it.

For ``scipy.sparse`` MDPs with up to ~10^6 states, :func:`soft_value_iteration_sparse`
runs the soft Bellman operator of :mod:`rift_core.exact.rift`,

    Q[s, a] = x[s, a] + gamma ((1 - beta) (P V)[s, a] + [truncate] beta V[s])
    V'[s]   = alpha log sum_a pi_ref[s, a] exp(Q[s, a] / alpha)      (alpha > 0)
    V'[s]   = max_{a : pi_ref[s, a] > 0} Q[s, a]                     (alpha = 0, the hard limit)

as one pass over the transition arrays per sweep (compiled with numba, parallel
over states), so a sweep reads each transition once and writes ``V'`` and ``Q``;
``benchmarks/sparse_sweep.py`` measures it against the time to stream the same
bytes. What makes it fast on a CPU: unsigned 32-bit column indices and unsigned
loop indices where they decide the code (numba checks every read through a
signed index for wraparound), two accumulators per row, the hard sweep reading
one byte of ``pi_ref``'s support per pair, no stay term under ``terminate``, the
soft backup's exponentials and logarithms as branch-free SIMD loops per block
(accuracy arguments at ``_exp`` and ``_log``) and, for local dynamics, rows
padded to a common width (``SparseSoftBellman(layout=...)``), summed by
unrolled loops that read two column indices per load, and prefetched a few
kilobytes ahead of the loop.

Stopping rule (a value-error guarantee, not an iteration count): the operator
is a contraction with modulus ``kappa = gamma max_{s,a} ||K(s, a, .)||_1``
(``gamma max (1 - beta)`` under ``terminate``, ``gamma`` under ``truncate``),
so ``||V_{k+1} - V*||_inf <= kappa / (1 - kappa) ||V_{k+1} - V_k||_inf``; the
solver stops once that is ``<= tol`` and reports it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._validation import as_float_array, check_policy, check_scalar
from ._llvm import _as_float64, _as_int64
from .krylov import _bicgstab_trusted, _compact_index, _layout_index, _prefetch_padded_row, _row_dot, _row_span
from .mdp import FiniteMDP, StopSupervisor
from .rift import _policy_reward, SoftSolution, contraction_modulus, operator_iteration, soft_backup

__all__ = ["SparseSoftBellman", "soft_bellman_sweep", "soft_value_iteration_sparse", "modified_policy_iteration_sparse",
           "policy_iteration_sparse", "contraction_modulus"]


# ---------------------------------------------------------------------------------------------------------------
# The soft backup's exponentials, vectorised. A call to libm's exp per action cost the soft sweep as much as the
# whole hard sweep; written as multiply-adds with no call and no table (_exp), the soft pass's loop over states
# compiles to SIMD code. For y in [-745, 0] (below -745, e^y is 0 in float64):
#   y = n ln2 + r, n = round(y / ln2) in [-1075, 0], |r| <= ln2 / 2 (+ an ulp): Cody and Waite's reduction, with
#   ln2 = LN2_HI + LN2_LO where LN2_HI has 32 trailing zero bits, so n LN2_HI is exact for |n| < 2^21 and r
#   carries an error of an ulp of r;
#   e^r by its Taylor polynomial of degree 13 (Horner): the remainder is at most e^{ln2/2} (ln2/2)^14 / 14! < 1e-17
#   relative, below a tenth of an ulp, so the rounding of Horner's 13 steps (a few ulps) dominates;
#   2^n = 2^h 2^(n - h), h = floor(n / 2), two normal powers of two built from their exponent bits, so their
#   product with e^r is e^y rounded once more, subnormal results included.
# tests/test_sparse_batched.py checks e^y against math.exp on [-745, 0] (a few ulps).
# ---------------------------------------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_FACTORIAL = tuple(1.0 / math.factorial(k) for k in range(14))
_BLOCK_PAIRS = 1024  # (state, action) pairs per block of the soft pass: its scratch rows stay in the L1 cache
# How far ahead the sweeps prefetch a padded layout's rows, one row per row computed. The hardware's own prefetcher
# left the hard sweep at 0.76-0.79 of the streaming limit on the 10^6-state local benchmark when memory ran at
# ~59 GB/s; prefetching 4-8 KB ahead took it to 0.84-0.90 (2 KB: no gain; 12 KB: less; the x, gcont and Q streams:
# nothing). A state's rows prefetched at once, rather than row by row, cost a quarter with 32 actions.
_PREFETCH_BYTES = 6144
# The soft backup's logarithms, vectorised likewise (_log; a call to libm's log per state, with the registers it
# spills, cost a tenth of the soft sweep). For z > 0 (z < 2^-1022 is first scaled by 2^54, exactly):
#   z = 2^e m with m in [sqrt(1/2), sqrt(2)), read off z's bits (exact);
#   log m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 3 - 2 sqrt(2) < 0.1716: m - 1 is exact (Sterbenz), so t carries
#   the two roundings of m + 1 and of the division; 2 atanh(t) = sum_k 2 t^(2k+1) / (2k+1), k = 0..11, whose
#   remainder is below t^25 / 12 < 1e-20 of log m, so the few roundings of Horner's 12 steps dominate;
#   log z = e LN2_HI + (e LN2_LO + log m), e LN2_HI exact for |e| < 2^21.
# tests/test_sparse_batched.py checks log z against math.log on (0, 1] and beyond (a few ulps).
_ATANH_SERIES = tuple(2.0 / (2 * k + 1) for k in range(12))
_SQRT2_BITS = 0x3FF6A09E667F3BCD  # the bits of sqrt(2)
_TWO54 = 2.0**54


@numba.njit(inline="always")
def _exp(y):
    """``e^y`` for ``y`` in ``[-745, 0]``, to a few ulps (see the comment above): ``p 2^h 2^(n - h)`` with ``p`` the
    polynomial of the reduced argument and the two powers of two built from their exponent bits."""
    n = math.floor(y * _LOG2E + 0.5)
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = _INV_FACTORIAL[13]
    for i in range(12, -1, -1):  # Horner; a fixed trip count, which the compiler unrolls
        p = p * r + _INV_FACTORIAL[i]
    k = np.int64(n)
    h = k >> 1
    return p * _as_float64((h + 1023) << 52) * _as_float64((k - h + 1023) << 52)


@numba.njit(inline="always")
def _block_states(A):
    """States per block of the soft pass: ``_BLOCK_PAIRS`` pairs, so its scratch rows stay in the first-level cache."""
    return max(np.uint64(8), np.uint64(_BLOCK_PAIRS) // np.uint64(A))


@numba.njit(inline="always")
def _clipped_exponent(y):
    """``y`` clipped to ``[-745, 0]``, the domain of :func:`_exp`; a NaN becomes -745."""
    y = y if y > -745.0 else -745.0
    return y if y < 0.0 else 0.0


@numba.njit(inline="always")
def _log(z):
    """``log z`` for a finite ``z > 0``, subnormal included, to a few ulps (see the comment above)."""
    tiny = z < 2.2250738585072014e-308
    bits = _as_int64(z * _TWO54 if tiny else z)  # a subnormal's exponent bits say nothing; 2^54 z is normal
    m_bits = (bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000  # m in [1, 2)
    big = m_bits > _SQRT2_BITS  # positive floats order as their bits
    m = _as_float64(m_bits - (np.int64(big) << 52))  # m in [sqrt(1/2), sqrt(2))
    e = np.float64(((bits >> 52) & 0x7FF) - 1023 + np.int64(big)) - (54.0 if tiny else 0.0)
    t = (m - 1.0) / (m + 1.0)
    u = t * t
    p = _ATANH_SERIES[11]
    for i in range(10, -1, -1):  # Horner in t^2; a fixed trip count, which the compiler unrolls
        p = p * u + _ATANH_SERIES[i]
    return e * _LN2_HI + (e * _LN2_LO + t * p)


# error_model="numpy": a division by zero gives inf or NaN (caught by the residual) instead of a check per division;
# fastmath "contract" only: a * b + c may become one fused multiply-add (one rounding instead of two, fewer
# instructions in the exponentials' polynomial); no reassociation, and NaN and inf keep their meaning
_SWEEP_FLAGS = {"error_model": "numpy", "fastmath": {"contract"}}


@numba.njit(inline="always")
def _state_q(indptr, width, indices, data, V, x, gcont, gstay, support, Q_out, s, A, has_stay, ahead):
    """Write state ``s``'s row of ``Q`` (flat arrays) and return its maximum over ``pi_ref``'s support, or NaN if any
    of the row's ``Q`` (on the support or off it) is not finite: ``q > best`` is false for a NaN, which the maximum
    would otherwise skip, so ``0 q`` (0, or NaN for a NaN or an infinite ``q``) is added to it. Each row prefetches
    the padded row ``ahead`` rows on (:func:`_prefetch_rows`; nothing for CSR)."""
    s, A, ahead = _layout_index(width, s), _layout_index(width, A), _layout_index(width, ahead)  # see there
    vs = V[s]
    best = -np.inf
    finite = 0.0
    for row in range(s * A, s * A + A):
        r = _layout_index(width, row)
        _prefetch_padded_row(width, indices, data, np.uint64(r + ahead))
        q = x[r] + gcont[r] * _row_dot(indptr, width, indices, data, V, np.uint64(r))
        if has_stay:
            q += gstay[r] * vs
        Q_out[r] = q
        finite += 0.0 * q
        if support[r] and q > best:
            best = q
    return best + finite


@numba.njit(inline="always")
def _prefetch_rows(width):
    """How many rows ahead the sweeps prefetch a padded layout's rows: about ``_PREFETCH_BYTES`` of ``data``."""
    return max(1, _PREFETCH_BYTES // (8 * max(1, len(width))))


@numba.njit(inline="always")
def _store(V_out, V, s, v):
    """``V_out[s] = v``; returns ``|v - V[s]|``, the state's share of the residual."""
    V_out[s] = v
    return abs(v - V[s])


@numba.njit(parallel=True, cache=True, **_SWEEP_FLAGS)
def _hard_sweep(indptr, width, indices, data, V, x, gcont, gstay, support, V_out, Q_out):
    """The hard (``alpha = 0``) sweep over flat ``(S A,)`` arrays, one parallel loop over states: a kernel of its
    own, since the soft sweep's blocks and arrays cost it a tenth of its time (fewer pointers stay in registers).
    ``gstay`` is empty under ``terminate``. Returns ``||V_out - V||_inf``, NaN if any state's is not finite."""
    S = V.shape[0]
    A = x.shape[0] // S
    has_stay = gstay.shape[0] > 0
    ahead = _prefetch_rows(width)
    dmax = 0.0
    bad = 0
    for s in numba.prange(S):
        state = _layout_index(width, s)
        q_max = _state_q(indptr, width, indices, data, V, x, gcont, gstay, support, Q_out, state, A, has_stay, ahead)
        d = _store(V_out, V, state, q_max)
        dmax = max(dmax, d)
        bad += 0 if d < np.inf else 1  # NaN too
    # a NaN anywhere must reach the caller, so the solvers fail closed
    return np.nan if bad else dmax


@numba.njit(parallel=True, cache=True, **_SWEEP_FLAGS)
def _q_pass(indptr, width, indices, data, V, x, gcont, gstay, support, Q_out, best):
    """The soft sweep's first pass: ``Q`` and its maximum over ``pi_ref``'s support per state, one parallel loop
    over states as in :func:`_hard_sweep`. Fused into the soft pass's blocks, this loop measured no faster on the
    10^6-state benchmark, and slower when memory ran fast (21.6 against 19.0 ms)."""
    S = V.shape[0]
    A = x.shape[0] // S
    has_stay = gstay.shape[0] > 0
    ahead = _prefetch_rows(width)
    for s in numba.prange(S):
        state = _layout_index(width, s)
        best[state] = _state_q(indptr, width, indices, data, V, x, gcont, gstay, support, Q_out, state, A, has_stay,
                               ahead)


@numba.njit(parallel=True, cache=True, **_SWEEP_FLAGS)
def _soft_pass(V, best_all, weight, alpha, V_out, Q_out):
    """The soft sweep's second pass, ``V_out = best + alpha log(sum_a w e^y / sum_a w)`` with ``y = (Q - best) /
    alpha``, from ``Q_out`` and ``best_all`` (see the comment below), in parallel blocks of ``_BLOCK_PAIRS`` pairs.
    Returns ``||V_out - V||_inf``, NaN if any state's is not finite."""
    S = V.shape[0]
    A = np.uint64(Q_out.shape[0] // S)
    inv_alpha = 1.0 / alpha
    size = _block_states(A)
    n_blocks = (S + size - 1) // size
    dmax = 0.0
    bad = 0
    for block in numba.prange(n_blocks):
        lo = np.uint64(block * size)
        n = np.uint64(min(S, block * size + size)) - lo
        first = lo * A  # the block's first (state, action) pair
        # V = best + alpha log(sum_a w e^y / sum_a w), y = (Q - best) / alpha <= 0 with y = 0 at the best action, so
        # the ratio z lies in [w_best / wsum, 1]: each exp and the log carry a relative error of a few ulps, which the
        # log turns into an absolute error of a few alpha ulps in V, the size of the rounding of best + ... itself.
        # y is clipped to [-745, 0]: above 0 lie only actions off pi_ref's support (w = 0), and a NaN (from an
        # overflow) becomes -745, reaching V through best. z is positive and finite whenever best is finite (the
        # best action's term is its weight w > 0); only then is its log needed: with best infinite or NaN, V is
        # not finite whatever the log gives, and the residual refuses it.
        # Each step is a loop over the block's pairs or states with unsigned indices (numba's wraparound check on a
        # signed index keeps a loop from compiling to SIMD code): best per pair, every pair's term w e^y (SIMD),
        # the sums per state, then every state's log (SIMD).
        best_per_pair = np.empty(n * A)
        for i in range(n):
            for a in range(A):
                best_per_pair[np.uint64(i) * A + np.uint64(a)] = best_all[lo + np.uint64(i)]
        terms = np.empty(n * A)
        for k in range(n * A):
            k = np.uint64(k)
            terms[k] = weight[first + k] * _exp(_clipped_exponent((Q_out[first + k] - best_per_pair[k]) * inv_alpha))
        z = np.empty(n)
        for i in range(n):
            i = np.uint64(i)
            tot = 0.0
            wsum = 0.0
            for k in range(i * A, i * A + A):
                tot += terms[np.uint64(k)]
                wsum += weight[first + np.uint64(k)]
            z[i] = tot / wsum
        for i in range(n):
            i = np.uint64(i)
            z[i] = best_all[lo + i] + alpha * _log(z[i])
        for i in range(n):
            i = np.uint64(i)
            V_out[lo + i] = z[i]
            d = abs(z[i] - V[lo + i])
            dmax = max(dmax, d)
            bad += 0 if d < np.inf else 1  # NaN too
    return np.nan if bad else dmax


def _soft_sweep(indptr, width, indices, data, V, x, gcont, gstay, support, weight, alpha, V_out, Q_out, best):
    """The soft (``alpha > 0``) sweep over flat ``(S A,)`` arrays: :func:`_q_pass`, then :func:`_soft_pass`; ``best``
    is an ``(S,)`` buffer and ``gstay`` is empty under ``terminate``. Two passes re-read ``Q`` (from cache at up to
    ~10^5 states), but on the 10^6-state benchmark they took a tenth off the fused loop's time. Returns
    ``||V_out - V||_inf``, NaN if any state's is not finite."""
    _q_pass(indptr, width, indices, data, V, x, gcont, gstay, support, Q_out, best)
    return _soft_pass(V, best, weight, alpha, V_out, Q_out)


@numba.njit(parallel=True, cache=True)
def _policy_row_lengths(indptr, width, data, pi):
    S, A = pi.shape
    counts = np.zeros(S + 1, dtype=np.int64)
    for s in numba.prange(S):
        n = 0
        for a in range(A):
            if pi[s, a] != 0.0:
                lo, hi = _row_span(indptr, width, np.uint64(s * A + a))
                for j in range(lo, hi):
                    n += 1 if data[np.uint64(j)] != 0.0 else 0
        counts[s + 1] = n
    return counts


@numba.njit(parallel=True, cache=True)
def _fill_policy_rows(indptr, width, indices, data, gcont, gstay, pi, out_ptr, out_idx, out_val, diag):
    S, A = pi.shape
    has_stay = gstay.shape[0] > 0
    for s in numba.prange(S):
        k = out_ptr[s]
        d = 0.0
        for a in range(A):
            p = pi[s, a]
            if p != 0.0:
                r = s * A + a
                c = p * gcont[r]
                lo, hi = _row_span(indptr, width, np.uint64(r))
                for j in range(lo, hi):
                    j = np.uint64(j)
                    if data[j] != 0.0:  # the padding of the ELL layout (and explicit zeros): no term
                        out_idx[k] = indices[j]
                        out_val[k] = c * data[j]
                        k += 1
                if has_stay:
                    d += p * gstay[r]
        diag[s] = d


def _policy_rows(indptr, width, indices, data, gcont, gstay, pi):
    """The rows of gamma K_pi as one compact CSR (coefficients gamma pi(a|s) (1 - beta) P folded
    in), plus the diagonal gamma sum_a pi beta of ``truncate``: evaluation sweeps then stream
    only the policy's rows, in order, without zero entries (so both layouts give the same rows). Indices are
    unsigned (:func:`_compact_index`)."""
    S = pi.shape[0]
    counts = _policy_row_lengths(indptr, width, data, pi)
    out_ptr = np.cumsum(counts).astype(_compact_index(int(counts.sum())))
    out_idx = np.empty(int(out_ptr[S]), dtype=indices.dtype)
    out_val, diag = np.empty(int(out_ptr[S])), np.empty(S)
    _fill_policy_rows(indptr, width, indices, data, gcont, gstay, pi, out_ptr, out_idx, out_val, diag)
    return out_ptr, out_idx, out_val, diag


@numba.njit(parallel=True, cache=True)
def _evaluation_sweep(ptr, idx, val, diag, reward_pi, V, V_out):
    """One sweep of V <- reward_pi + gamma K_pi V with the rows from :func:`_policy_rows`."""
    for s in numba.prange(V.shape[0]):
        V_out[s] = reward_pi[s] + diag[s] * V[s] + _row_dot(ptr, (), idx, val, V, np.uint64(s))


# The padded (ELL) layout: each width K compiles its own sweep (cached on disk), whose row loop has a constant trip
# count, so it is unrolled and its exit never mispredicted, and no row pointers are read. It pays only where the
# gather V[j] hits the first-level cache: on the 10^6-state benchmark with successors within 64 states (rows of 8 to
# 10 entries) it took a fifth off the hard sweep, while with successors anywhere (V's reads from L2, L3 or memory)
# the unrolled loop was slower (52 against 38 ms). "auto" therefore pads only rows of at most _ELL_MAX_WIDTH
# entries, when padding adds at most _ELL_MAX_PADDING of the entries and at least _ELL_LOCAL_SHARE of the entries
# lie within _ELL_BAND states of their own state (circularly, so a torus counts as local).
_ELL_MAX_WIDTH = 16
_ELL_MAX_PADDING = 0.125
_ELL_BAND = 1024
_ELL_LOCAL_SHARE = 0.9
_LAYOUTS = ("auto", "csr", "ell")


@numba.njit(parallel=True, cache=True)
def _fill_ell(indptr, indices, data, out_idx, out_val):
    """Pad CSR rows to ``K = out_idx.shape[0] // rows`` entries: a row's padding repeats its last column (already
    in cache, and a non-finite ``V`` there already makes the row's sum non-finite) with weight 0, so each padded
    sum equals the CSR one exactly."""
    rows = indptr.shape[0] - 1
    k = out_idx.shape[0] // rows
    for r in numba.prange(rows):
        lo, hi = indptr[r], indptr[r + 1]
        for t in range(k):
            j = min(lo + t, hi - 1)
            out_idx[r * k + t] = indices[j]
            out_val[r * k + t] = data[j] if lo + t < hi else 0.0


@numba.njit(parallel=True, cache=True)
def _local_entries(indptr, indices, n_states, n_actions, band):
    """How many entries ``(r, j)`` of a CSR ``P`` have their column within ``band`` states of row ``r``'s state
    ``r // n_actions``, circularly."""
    count = 0
    for r in numba.prange(indptr.shape[0] - 1):
        s = r // n_actions
        for j in range(indptr[r], indptr[r + 1]):
            d = abs(np.int64(indices[j]) - s)
            count += 1 if min(d, n_states - d) <= band else 0
    return count


def _arrays(mdp: FiniteMDP, supervisor: StopSupervisor, layout: str = "auto"):
    """The transition arrays ``(indptr, width, indices, data)`` (see :func:`rift_core.exact.krylov._row_span`:
    ``width = ()`` for CSR, a tuple of ``K`` zeros and an empty ``indptr`` for rows padded to ``K`` entries; unsigned
    compact indices) and the flat coefficients ``gamma (1 - beta)`` and, under ``truncate``, ``gamma beta`` (empty
    under ``terminate``, so the sweep reads no stay term)."""
    P2 = mdp.transition_matrix
    if not hasattr(P2, "indptr"):
        import scipy.sparse as sp

        P2 = sp.csr_array(P2)
    beta = supervisor.beta.reshape(-1)
    gstay = mdp.gamma * beta if supervisor.semantics == "truncate" else np.empty(0)
    lengths = np.diff(P2.indptr)
    k, rows = int(lengths.max()), lengths.shape[0]
    fits = 1 <= int(lengths.min()) and k <= _ELL_MAX_WIDTH
    if layout == "ell" and not fits:
        raise ValueError(f"layout='ell' needs every row of P to hold 1 to {_ELL_MAX_WIDTH} entries; "
                         f"they hold {int(lengths.min())} to {k}")
    indices = P2.indices.astype(_compact_index(mdp.n_states))
    data = np.ascontiguousarray(P2.data, dtype=np.float64)
    if layout == "auto":
        layout = "ell" if (fits and k * rows <= (1 + _ELL_MAX_PADDING) * P2.nnz and _local_entries(
            P2.indptr, indices, mdp.n_states, mdp.n_actions, _ELL_BAND) >= _ELL_LOCAL_SHARE * P2.nnz) else "csr"
    if layout == "ell":
        out_idx, out_val = np.empty(k * rows, dtype=indices.dtype), np.empty(k * rows)
        _fill_ell(P2.indptr, indices, data, out_idx, out_val)
        indptr, width, indices, data = np.empty(0, dtype=np.uint32), (0,) * k, out_idx, out_val
    else:
        indptr, width = P2.indptr.astype(_compact_index(int(P2.indptr[-1]))), ()
    return indptr, width, indices, data, mdp.gamma * (1.0 - beta), gstay


class SparseSoftBellman:
    r"""The soft (``alpha > 0``) or hard (``alpha = 0``) Bellman operator of one problem on CSR arrays, validated once.

    ``apply(V) -> (T V, Q, ||T V - V||_inf)`` is one fused sweep (module docstring) with no per-call checks beyond
    ``V``'s shape, so a solver or a benchmark can call it thousands of times; ``modulus`` is the contraction
    modulus ``kappa`` of the stopping rule. ``validate_policy=False`` skips the check of ``pi_ref``'s rows (for
    callers that built it themselves); its shape is checked regardless, since the kernel trusts it.

    ``layout``: how the transitions are stored for the sweeps. ``"csr"`` keeps ``P``'s rows as they are;
    ``"ell"`` pads every row to the longest one's ``K <= 16`` entries (zero weights), which the compiled sweep
    walks with a constant trip count and no row pointers; ``"auto"`` (default) pads when that adds at most an
    eighth of the entries and 90% of the successors lie within 1024 states of their state (local dynamics, where
    the sweep is compute-bound; elsewhere the padded loop measured slower). Both give the same sums, bit for bit;
    ``self.layout`` says which was chosen.
    """

    def __init__(self, mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                 validate_policy: bool = True, layout: str = "auto"):
        supervisor.check_matches(mdp)
        S, A = mdp.n_states, mdp.n_actions
        # the numba kernel trusts its shapes: a wrong one would read out of bounds, so check them here
        self.x = np.ascontiguousarray(as_float_array("x", x, (S, A)))
        pi_ref = check_policy("pi_ref", pi_ref, S, A) if validate_policy else as_float_array("pi_ref", pi_ref, (S, A))
        self.pi_ref = np.ascontiguousarray(pi_ref)
        self.alpha = float(check_scalar("alpha", alpha, low=0.0))
        self.gamma, self.shape = mdp.gamma, (S, A)
        if not isinstance(layout, str) or layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
        self.indptr, self.width, self.indices, self.data, self.gcont, self.gstay = _arrays(mdp, supervisor, layout)
        self.layout = "ell" if self.width else "csr"
        self.support = (self.pi_ref > 0).reshape(-1).view(np.uint8)  # what the hard sweep reads of pi_ref
        self.modulus = contraction_modulus(mdp, supervisor)
        self.krylov_rtol = 1e-10  # evaluate's BiCGSTAB tolerance (policy_iteration_sparse sets it)
        self.forcing = 0.0  # > 0: evaluate's tolerance follows the last apply's residual (see evaluate)
        self._residual = None
        self._best = np.empty(S if self.alpha > 0 else 0)  # the soft sweep's per-state maxima, reused

    def apply(self, V, V_out: np.ndarray | None = None, Q_out: np.ndarray | None = None):
        """``(T V, Q, ||T V - V||_inf)``, written into ``V_out`` and ``Q_out`` when given (float64, C order).

        Raises ``ValueError`` for a non-finite ``V`` and ``FloatingPointError`` when ``T V`` is not finite (an ``x``
        so large that the backup overflows), instead of returning NaN."""
        S, A = self.shape
        V = as_float_array("V", V, (S,))  # one pass over V: no copy for a float64 array, and NaN is refused
        V_out = np.empty(S) if V_out is None else _checked_out("V_out", V_out, (S,))
        Q_out = np.empty((S, A)) if Q_out is None else _checked_out("Q_out", Q_out, (S, A))
        arrays = (self.indptr, self.width, self.indices, self.data, V, self.x.reshape(-1), self.gcont, self.gstay,
                  self.support)
        d = (_hard_sweep(*arrays, V_out, Q_out.reshape(-1)) if self.alpha == 0.0 else
             _soft_sweep(*arrays, self.pi_ref.reshape(-1), self.alpha, V_out, Q_out.reshape(-1), self._best))
        if not math.isfinite(d):
            raise FloatingPointError(f"the Bellman sweep's residual is {d}: T V is not finite (x too large?)")
        self._residual = d
        return V_out, Q_out, d

    def greedy(self, Q):
        """The soft-greedy policy of ``Q`` (``alpha > 0``) or the greedy one on ``pi_ref``'s support, with its log."""
        return _greedy(Q, self.pi_ref, self.alpha)

    def evaluate(self, pi, V, sweeps: int | None = None):
        """``V^pi`` of ``x_pi - alpha KL(pi || pi_ref)`` over a compact copy of the policy's rows: ``sweeps``
        sweeps of ``V <- x_pi - alpha KL + gamma K_pi V`` from ``V`` (for a deterministic greedy policy, ``A``
        times fewer transitions than a Bellman sweep), or (``sweeps=None``) BiCGSTAB to relative residual
        ``krylov_rtol`` from ``V`` (or from ``x_pi`` when ``V`` is None), with :func:`rift_core.exact.krylov.bicgstab`.

        With ``forcing > 0`` the BiCGSTAB tolerance is inexact Newton's forcing term (policy iteration is Newton's
        method on ``V = T V``): ``max(krylov_rtol, min(1e-4, forcing ||T V - V||_inf sqrt(S) / ||b||_2))`` with the
        residual of the last :meth:`apply` (``1e-4`` before any), and at least a tenfold cut of the start's
        residual, so an evaluation is only as exact as the current iterate deserves and never a no-op. The
        solvers' stopping bound comes from the sweep, not from the evaluations, so it holds either way."""
        reward = _policy_reward(pi, self.x, self.pi_ref, self.alpha)
        ptr, idx, val, diag = _policy_rows(self.indptr, self.width, self.indices, self.data, self.gcont, self.gstay, pi)
        if sweeps is not None:
            V, V_new = V.copy(), np.empty_like(V)  # the swaps below must not write into the caller's V
            for _ in range(sweeps):
                _evaluation_sweep(ptr, idx, val, diag, reward, V, V_new)
                V, V_new = V_new, V
            return V
        rtol = self.krylov_rtol
        if self.forcing > 0:
            scale = np.linalg.norm(reward)
            loose = 1e-4 if self._residual is None or scale == 0 else \
                min(1e-4, self.forcing * self._residual * math.sqrt(len(reward)) / scale)
            rtol = max(rtol, loose)
        V, _, _ = _bicgstab_trusted(ptr, idx, val, diag, reward, reward if V is None else V, rtol,
                                    0.1 if self.forcing > 0 else 1.0)
        return V


def _checked_out(name: str, out, shape) -> np.ndarray:
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == shape
            and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{name} must be a writeable C-contiguous float64 array of shape {shape}")
    return out


def soft_bellman_sweep(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float, V):
    """One sweep ``V' = T V`` (see the module docstring); returns ``(V', Q, ||V' - V||_inf)``.
    For many sweeps of one problem, build a :class:`SparseSoftBellman` once."""
    return SparseSoftBellman(mdp, supervisor, x, pi_ref, alpha).apply(V)


def soft_value_iteration_sparse(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                                tol: float = 1e-8, max_iterations: int = 1_000_000, V0=None,
                                validate_policy: bool = True) -> SoftSolution:
    r"""Soft (``alpha > 0``) or hard (``alpha = 0``) value iteration with the fused sparse sweep
    (:func:`~rift_core.exact.rift.operator_iteration` on :class:`SparseSoftBellman`).

    Stops when ``kappa / (1 - kappa) ||V_{k+1} - V_k||_inf <= tol`` (module docstring),
    which guarantees ``||V - V*||_inf <= tol``. Returns a :class:`~rift_core.exact.rift.SoftSolution`
    whose ``policy`` is the soft-greedy policy of the final ``Q`` (``alpha > 0``) or
    the greedy one (``alpha = 0``, ties to the lowest index). Starts at ``V0`` (default 0).
    """
    T = SparseSoftBellman(mdp, supervisor, x, pi_ref, alpha, validate_policy)
    return operator_iteration(T, "value_iteration", tol=tol, max_iterations=max_iterations, V0=V0,
                              name="soft_value_iteration_sparse")


def modified_policy_iteration_sparse(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                                     tol: float = 1e-8, evaluation_sweeps: int = 20,
                                     max_iterations: int = 100_000, V0=None,
                                     validate_policy: bool = True) -> SoftSolution:
    r"""Modified policy iteration for the soft (``alpha > 0``) or hard (``alpha = 0``) problem
    (:func:`~rift_core.exact.rift.operator_iteration` on :class:`SparseSoftBellman`).

    Each iteration: one full sweep ``V' = T V`` (which also yields the stopping
    bound ``kappa / (1 - kappa) ||V' - V||_inf <= tol``, as in
    :func:`soft_value_iteration_sparse`), the (soft-)greedy policy ``pi`` of its
    ``Q``, then ``evaluation_sweeps`` sweeps of the policy's own operator
    ``V <- x_pi - alpha KL(pi || pi_ref) + gamma K_pi V`` over a compact copy of
    the policy's rows (for a deterministic greedy policy, ``A`` times fewer
    transitions than a Bellman sweep). Starting from the default
    ``V_0 = min(x, 0) / (1 - gamma)``, where ``T V_0 >= V_0``, the iterates rise
    monotonically to ``V*`` (Puterman, *Markov Decision Processes*, Thm 6.5.5).
    """
    T = SparseSoftBellman(mdp, supervisor, x, pi_ref, alpha, validate_policy)
    return operator_iteration(T, "modified_policy_iteration", tol=tol, max_iterations=max_iterations, V0=V0,
                              evaluation_sweeps=evaluation_sweeps, name="modified_policy_iteration_sparse")


def policy_iteration_sparse(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                            tol: float = 1e-8, krylov_rtol: float = 1e-10, max_iterations: int = 1_000,
                            validate_policy: bool = True, forcing: float = 0.0, V0=None) -> SoftSolution:
    r"""(Soft) policy iteration with Krylov policy evaluation, for large sparse MDPs
    (:func:`~rift_core.exact.rift.operator_iteration` on :class:`SparseSoftBellman`).

    Each iteration: one full sweep ``V' = T V`` (the certified stopping bound, as in
    :func:`soft_value_iteration_sparse`), the (soft-)greedy policy ``pi`` of its
    ``Q``, then ``V <- (I - gamma K_pi)^{-1} (x_pi - alpha KL(pi || pi_ref))`` solved
    by BiCGSTAB on the compact matrix of the policy's rows. The solve's relative
    residual is inexact Newton's forcing term, ``forcing`` times the current
    Bellman residual (:meth:`SparseSoftBellman.evaluate`), never tighter than
    ``krylov_rtol``; ``forcing=0`` (the default) solves every evaluation to
    ``krylov_rtol``. On the 10^5-state benchmark MDP, ``forcing=1e-3`` halved the
    products for one or two more outer iterations (a fixed loose tolerance costs
    more outer iterations than it saves); its ``V`` meets ``tol`` all the same,
    but the final policy, a soft-greedy function of an inexactly evaluated ``Q``,
    can differ from the exact evaluations' by about ``tol / alpha``. It starts from the value of
    ``pi_ref`` (so every iterate improves on the reference), or, given ``V0``, from the greedy policy of
    ``T V0``: that skips the evaluation of ``pi_ref``, whose rows are all of ``pi_ref``'s support (for a uniform
    ``pi_ref``, ``A`` times a deterministic policy's; on the 10^5-state benchmark ``V0=0`` saved a tenth of the
    time for one more iteration). Policy iteration needs a handful of iterations and each
    evaluation a few products, against the hundreds of sweeps of value iteration
    at ``gamma`` near 1. The stopping guarantee does not depend on the
    evaluations' accuracy.
    """
    T = SparseSoftBellman(mdp, supervisor, x, pi_ref, alpha, validate_policy)
    T.krylov_rtol = check_scalar("krylov_rtol", krylov_rtol, low=0.0, low_open=True)
    T.forcing = check_scalar("forcing", forcing, low=0.0)
    return operator_iteration(T, "policy_iteration", tol=tol, max_iterations=max_iterations, V0=V0,
                              name="policy_iteration_sparse")


def _greedy(Q, pi_ref, alpha):
    """The soft-greedy policy of ``Q`` (``alpha > 0``) or the greedy one on ``pi_ref``'s support, with its log."""
    if alpha > 0:
        _, policy, _, log_policy = soft_backup(Q, pi_ref, alpha)
        return policy, log_policy
    return _hard_greedy(Q, pi_ref)


@numba.njit(parallel=True, cache=True)
def _hard_greedy(Q, pi_ref):
    """The deterministic policy on each state's first maximiser of ``Q`` over ``pi_ref > 0``, and its log
    (0 on the chosen action, -inf elsewhere); one pass, where numpy's masked argmax and log took four."""
    S, A = Q.shape
    policy = np.zeros((S, A))
    log_policy = np.full((S, A), -np.inf)
    for s in numba.prange(S):
        best, chosen = -np.inf, -1
        for a in range(A):
            if pi_ref[s, a] > 0.0 and (chosen < 0 or Q[s, a] > best):
                best, chosen = Q[s, a], a
        chosen = max(chosen, 0)  # a row without support (only with validate_policy=False): action 0, as argmax
        policy[s, chosen] = 1.0
        log_policy[s, chosen] = 0.0
    return policy, log_policy
