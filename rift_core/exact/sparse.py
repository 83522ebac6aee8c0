r"""Large sparse MDPs: a fused, parallel soft Bellman sweep and exact solvers built on it.

For ``scipy.sparse`` MDPs with up to ~10^6 states, :func:`soft_value_iteration_sparse`
runs the soft Bellman operator of :mod:`rift_core.exact.rift`,

    Q[s, a] = x[s, a] + gamma ((1 - beta) (P V)[s, a] + [truncate] beta V[s])
    V'[s]   = alpha log sum_a pi_ref[s, a] exp(Q[s, a] / alpha)      (alpha > 0)
    V'[s]   = max_{a : pi_ref[s, a] > 0} Q[s, a]                     (alpha = 0, the hard limit)

as one pass over the CSR arrays per sweep (compiled with numba, parallel over
states), so a sweep reads each transition once and writes ``V'`` and ``Q``: it
is memory-bound, and ``benchmarks/sparse_sweep.py`` measures it against the
time to stream the same bytes.

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
from .krylov import bicgstab
from .mdp import FiniteMDP, StopSupervisor
from .rift import _policy_reward, SoftSolution, contraction_modulus, operator_iteration, soft_backup

__all__ = ["SparseSoftBellman", "soft_bellman_sweep", "soft_value_iteration_sparse", "modified_policy_iteration_sparse",
           "policy_iteration_sparse", "contraction_modulus"]


@numba.njit(parallel=True, cache=True)
def _sweep(indptr, indices, data, V, x, cont, stay, weight, alpha, gamma, V_out, Q_out):
    S, A = Q_out.shape
    diff = np.zeros(S)
    for s in numba.prange(S):
        best = -np.inf
        for a in range(A):
            r = s * A + a
            acc = 0.0
            for j in range(indptr[r], indptr[r + 1]):
                acc += data[j] * V[indices[j]]
            q = x[s, a] + gamma * (cont[s, a] * acc + stay[s, a] * V[s])
            Q_out[s, a] = q
            if weight[s, a] > 0.0 and q > best:
                best = q
        if alpha == 0.0:
            v = best
        else:
            # V = best + alpha log(sum_a w e^y / sum_a w), y = (Q - best) / alpha <= 0 with y = 0 at the best
            # action, so the sum lies in [w_best, wsum]: each exp and the log carry a relative error of an ulp or
            # two, which the log turns into an absolute error of a few alpha ulps in V, the size of the rounding
            # of best + ... itself (the expm1 / log1p form is no more accurate in absolute terms, and slower).
            # Below y = -745 exp underflows to exactly 0, so the skip changes nothing.
            tot = 0.0
            wsum = 0.0
            inv_alpha = 1.0 / alpha
            for a in range(A):
                w = weight[s, a]
                if w > 0.0:
                    y = (Q_out[s, a] - best) * inv_alpha
                    if y > -745.0:
                        tot += w * math.exp(y)
                    wsum += w
            v = best + alpha * math.log(tot / wsum)
        V_out[s] = v
        diff[s] = abs(v - V[s])
    # a NaN anywhere must reach the caller (max() alone skips it), so the solvers fail closed
    return np.nan if np.isnan(diff).any() else diff.max()


@numba.njit(parallel=True, cache=True)
def _policy_row_lengths(indptr, pi):
    S, A = pi.shape
    counts = np.zeros(S + 1, dtype=np.int64)
    for s in numba.prange(S):
        n = 0
        for a in range(A):
            if pi[s, a] != 0.0:
                r = s * A + a
                n += indptr[r + 1] - indptr[r]
        counts[s + 1] = n
    return counts


@numba.njit(parallel=True, cache=True)
def _fill_policy_rows(indptr, indices, data, cont, stay, pi, gamma, out_ptr, out_idx, out_val, diag):
    S, A = pi.shape
    for s in numba.prange(S):
        k = out_ptr[s]
        d = 0.0
        for a in range(A):
            p = pi[s, a]
            if p != 0.0:
                r = s * A + a
                c = gamma * p * cont[s, a]
                for j in range(indptr[r], indptr[r + 1]):
                    out_idx[k] = indices[j]
                    out_val[k] = c * data[j]
                    k += 1
                d += gamma * p * stay[s, a]
        diag[s] = d


def _policy_rows(indptr, indices, data, cont, stay, pi, gamma):
    """The rows of gamma K_pi as one compact CSR (coefficients gamma pi(a|s) (1 - beta) P folded
    in), plus the diagonal gamma sum_a pi beta of ``truncate``: evaluation sweeps then stream
    only the policy's rows, in order. Column indices are int32 when the states allow it (12 bytes
    per stored transition instead of 16)."""
    S = pi.shape[0]
    out_ptr = np.cumsum(_policy_row_lengths(indptr, pi))
    out_idx = np.empty(out_ptr[S], dtype=np.int32 if S < 2**31 else np.int64)
    out_val, diag = np.empty(out_ptr[S]), np.empty(S)
    _fill_policy_rows(indptr, indices, data, cont, stay, pi, gamma, out_ptr, out_idx, out_val, diag)
    return out_ptr, out_idx, out_val, diag


@numba.njit(parallel=True, cache=True)
def _evaluation_sweep(ptr, idx, val, diag, reward_pi, V, V_out):
    """One sweep of V <- reward_pi + gamma K_pi V with the rows from :func:`_policy_rows`."""
    for s in numba.prange(V.shape[0]):
        acc = reward_pi[s] + diag[s] * V[s]
        for j in range(ptr[s], ptr[s + 1]):
            acc += val[j] * V[idx[j]]
        V_out[s] = acc


def _arrays(mdp: FiniteMDP, supervisor: StopSupervisor):
    P2 = mdp.transition_matrix
    if not hasattr(P2, "indptr"):
        import scipy.sparse as sp

        P2 = sp.csr_array(P2)
    beta = supervisor.beta
    stay = beta if supervisor.semantics == "truncate" else np.zeros_like(beta)
    # a sweep streams value and column index once per transition: with int32 indices (when the states allow it)
    # that is 12 bytes instead of the 16 of scipy's int64, which it uses whenever the row pointers need it
    indices = P2.indices if P2.indices.dtype == np.int32 or mdp.n_states >= 2**31 else P2.indices.astype(np.int32)
    return P2.indptr, indices, P2.data, np.ascontiguousarray(1.0 - beta), np.ascontiguousarray(stay)


class SparseSoftBellman:
    r"""The soft (``alpha > 0``) or hard (``alpha = 0``) Bellman operator of one problem on CSR arrays, validated once.

    ``apply(V) -> (T V, Q, ||T V - V||_inf)`` is one fused sweep (module docstring) with no per-call checks beyond
    ``V``'s shape, so a solver or a benchmark can call it thousands of times; ``modulus`` is the contraction
    modulus ``kappa`` of the stopping rule. ``validate_policy=False`` skips the check of ``pi_ref``'s rows (for
    callers that built it themselves); its shape is checked regardless, since the kernel trusts it.
    """

    def __init__(self, mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                 validate_policy: bool = True):
        supervisor.check_matches(mdp)
        S, A = mdp.n_states, mdp.n_actions
        # the numba kernel trusts its shapes: a wrong one would read out of bounds, so check them here
        self.x = np.ascontiguousarray(as_float_array("x", x, (S, A)))
        self.pi_ref = (check_policy("pi_ref", pi_ref, S, A) if validate_policy
                       else np.ascontiguousarray(as_float_array("pi_ref", pi_ref, (S, A))))
        self.alpha = float(check_scalar("alpha", alpha, low=0.0))
        self.gamma, self.shape = mdp.gamma, (S, A)
        self.indptr, self.indices, self.data, self.cont, self.stay = _arrays(mdp, supervisor)
        self.modulus = contraction_modulus(mdp, supervisor)
        self.krylov_rtol = 1e-10  # evaluate's BiCGSTAB tolerance (policy_iteration_sparse sets it)
        self.forcing = 0.0  # > 0: evaluate's tolerance follows the last apply's residual (see evaluate)
        self._residual = None

    def apply(self, V, V_out: np.ndarray | None = None, Q_out: np.ndarray | None = None):
        """``(T V, Q, ||T V - V||_inf)``, written into ``V_out`` and ``Q_out`` when given (float64, C order).

        Raises ``ValueError`` for a non-finite ``V`` and ``FloatingPointError`` when ``T V`` is not finite (an ``x``
        so large that the backup overflows), instead of returning NaN."""
        S, A = self.shape
        V = as_float_array("V", V, (S,))  # one pass over V: no copy for a float64 array, and NaN is refused
        V_out = np.empty(S) if V_out is None else _checked_out("V_out", V_out, (S,))
        Q_out = np.empty((S, A)) if Q_out is None else _checked_out("Q_out", Q_out, (S, A))
        d = _sweep(self.indptr, self.indices, self.data, V, self.x, self.cont, self.stay, self.pi_ref, self.alpha,
                   self.gamma, V_out, Q_out)
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
        ptr, idx, val, diag = _policy_rows(self.indptr, self.indices, self.data, self.cont, self.stay, pi, self.gamma)
        if sweeps is not None:
            V_new = np.empty_like(V)
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
        V, _, _ = bicgstab(ptr, idx, val, diag, reward, reward if V is None else V, rtol=rtol,
                           reduction=0.1 if self.forcing > 0 else 1.0)
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
                            validate_policy: bool = True, forcing: float = 0.0) -> SoftSolution:
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
    ``pi_ref``. Policy iteration needs a handful of iterations and each
    evaluation a few products, against the hundreds of sweeps of value iteration
    at ``gamma`` near 1. The stopping guarantee does not depend on the
    evaluations' accuracy.
    """
    T = SparseSoftBellman(mdp, supervisor, x, pi_ref, alpha, validate_policy)
    T.krylov_rtol = check_scalar("krylov_rtol", krylov_rtol, low=0.0, low_open=True)
    T.forcing = check_scalar("forcing", forcing, low=0.0)
    return operator_iteration(T, "policy_iteration", tol=tol, max_iterations=max_iterations,
                              name="policy_iteration_sparse")


def _greedy(Q, pi_ref, alpha):
    """The soft-greedy policy of ``Q`` (``alpha > 0``) or the greedy one on ``pi_ref``'s support, with its log."""
    if alpha > 0:
        _, policy, _, log_policy = soft_backup(Q, pi_ref, alpha)
        return policy, log_policy
    S, A = Q.shape
    policy = np.zeros((S, A))
    policy[np.arange(S), np.where(pi_ref > 0, Q, -np.inf).argmax(axis=1)] = 1.0
    with np.errstate(divide="ignore"):
        return policy, np.log(policy)
