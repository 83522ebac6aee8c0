r"""Exact evaluation of a policy under supervision, by linear solves.

For a policy ``pi`` the supervised state kernel is
``K_pi[s, s'] = sum_a pi[s, a] K[s, a, s']`` (see :mod:`rift_core.exact.mdp` for
``K`` under each stop semantics), and for a per-step quantity ``x[s, a]``

    E^pi[x] = rho^T (I - gamma K_pi)^{-1} x_pi,     x_pi[s] = sum_a pi[s, a] x[s, a].

Everything here is exact up to the linear solver's rounding; nothing samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._validation import as_float_array, check_policy, check_scalar
from .mdp import FiniteMDP, StopSupervisor, no_stops

__all__ = ["DIRECT_SOLVE_LIMIT", "policy_kernel", "discounted_solve", "discounted_visitation", "policy_value", "action_value",
           "kl_per_state", "PolicyEvaluation", "evaluate_policy"]


def policy_kernel(mdp: FiniteMDP, supervisor: StopSupervisor, pi: np.ndarray):
    r"""``K_pi[s, s'] = sum_a pi[s, a] K[s, a, s']``: dense ``(S, S)`` or CSR.

    ``terminate``: ``sum_a pi (1 - beta) P[s, a, s']``; ``truncate`` adds
    ``1{s' = s} sum_a pi beta``.
    """
    S, A = mdp.n_states, mdp.n_actions
    w = pi * (1.0 - supervisor.beta)
    if mdp.is_sparse:
        rows = np.repeat(np.arange(S), A)
        W = sp.csr_array((w.ravel(), (rows, np.arange(S * A))), shape=(S, S * A))
        K = (W @ mdp.transition_matrix).tocsr()
        if supervisor.semantics == "truncate":
            K = (K + sp.diags_array((pi * supervisor.beta).sum(axis=1))).tocsr()
        return K
    K = np.einsum("sa,sat->st", w, mdp.P)
    if supervisor.semantics == "truncate":
        K[np.diag_indices(S)] += (pi * supervisor.beta).sum(axis=1)
    return K


#: Sparse MDPs with more states than this are evaluated iteratively (a direct
#: sparse LU of a random transition graph fills in and does not fit).
DIRECT_SOLVE_LIMIT = 2_000


def discounted_solve(mdp: FiniteMDP, K, b, transpose: bool = False, rtol: float = 1e-12) -> np.ndarray:
    r"""Solve ``(I - gamma K) x = b``, or ``(I - gamma K)^T x = b`` with ``transpose=True``.

    ``K`` is a policy's ``(S, S)`` supervised kernel (:func:`policy_kernel`),
    dense or sparse; ``b`` has length ``S``. Values are ``discounted_solve(mdp,
    K, x_pi)`` and visitations ``discounted_solve(mdp, K, rho, transpose=True)``.

    Dense, or sparse up to :data:`DIRECT_SOLVE_LIMIT` states: a direct solve.
    Larger sparse systems: BiCGSTAB, then Richardson sweeps ``x <- b + gamma K x``
    until a certified bound holds. Since every row of ``K`` has mass ``<= 1``,
    ``||(I - gamma K)^{-1}||_inf <= 1 / (1 - gamma)`` (and the same for the
    transpose in the 1-norm), so the error is at most the residual's norm over
    ``1 - gamma``; iteration stops once that is ``<= rtol max(1, ||b||) / (1 - gamma)``.
    """
    S = mdp.n_states
    if K.shape != (S, S):
        raise ValueError(f"K has shape {K.shape}, expected (S, S) = ({S}, {S})")
    b = as_float_array("b", b, (S,))
    rtol = check_scalar("rtol", rtol, low=0.0, low_open=True)
    return _discounted_solve(mdp, K, b, transpose, rtol)


def _discounted_solve(mdp: FiniteMDP, K, b: np.ndarray, transpose: bool = False, rtol: float = 1e-12) -> np.ndarray:
    """:func:`discounted_solve` on arguments this module built and checked."""
    S = mdp.n_states
    if not sp.issparse(K):
        return np.linalg.solve(np.eye(S) - mdp.gamma * (K.T if transpose else K), b)
    A_op = (K.T if transpose else K).tocsr()
    M = sp.identity(S, format="csr") - mdp.gamma * A_op
    if S <= DIRECT_SOLVE_LIMIT:
        return np.asarray(spla.spsolve(M.tocsc(), b), dtype=np.float64)
    norm = (lambda v: np.abs(v).sum()) if transpose else (lambda v: np.abs(v).max())  # noqa: E731
    target = rtol * max(1.0, norm(b))
    x, _ = spla.bicgstab(M, b, x0=b.copy(), rtol=rtol, atol=0.0, maxiter=10 * int(np.sqrt(S)) + 1000)
    x = np.asarray(x, dtype=np.float64)
    for _ in range(100_000):
        residual = b - M @ x
        if norm(residual) <= target:
            return x
        x = b + mdp.gamma * (A_op @ x)  # a Richardson sweep: a gamma-contraction in this norm
    raise RuntimeError(f"iterative policy evaluation did not reach residual {target:.1e} ({S} states)")


def _check(mdp: FiniteMDP, supervisor: StopSupervisor, pi, name: str = "pi") -> np.ndarray:
    supervisor.check_matches(mdp)
    return check_policy(name, pi, mdp.n_states, mdp.n_actions)


def discounted_visitation(mdp: FiniteMDP, supervisor: StopSupervisor, pi) -> np.ndarray:
    r"""Unnormalised discounted visitation ``y = rho^T (I - gamma K_pi)^{-1}``.

    ``y[s] = E[sum_t gamma^t 1{s_t = s, not stopped before t}]``; the occupancy
    (the book's ``def-visitation``) is ``d_pi = (1 - gamma) y`` (total mass <= 1 under
    ``terminate``, exactly 1 under ``truncate``).
    """
    return _visitation(mdp, supervisor, _check(mdp, supervisor, pi))


def _visitation(mdp: FiniteMDP, supervisor: StopSupervisor, pi: np.ndarray) -> np.ndarray:
    return _discounted_solve(mdp, policy_kernel(mdp, supervisor, pi), mdp.rho, transpose=True)


def policy_value(mdp: FiniteMDP, supervisor: StopSupervisor, pi, x) -> np.ndarray:
    r"""State values ``V_x^pi = (I - gamma K_pi)^{-1} x_pi`` of per-step quantity ``x``."""
    pi = _check(mdp, supervisor, pi)
    x = as_float_array("x", x, (mdp.n_states, mdp.n_actions))
    return discounted_solve(mdp, policy_kernel(mdp, supervisor, pi), (pi * x).sum(axis=1), transpose=False)


def action_value(mdp: FiniteMDP, supervisor: StopSupervisor, pi, x) -> np.ndarray:
    r"""``Q_x^pi[s, a] = x[s, a] + gamma (K V_x^pi)[s, a]``."""
    V = policy_value(mdp, supervisor, pi, x)
    return np.asarray(x, dtype=np.float64) + mdp.gamma * supervisor.expected_next(mdp, V)


def kl_per_state(pi, pi0) -> np.ndarray:
    r"""``KL(pi[s, :] || pi0[s, :]) = sum_a pi log(pi / pi0)``, with ``0 log 0 = 0``.

    Evaluated in the Bregman form ``sum_a [pi log1p(u) - pi0 u]``,
    ``u = (pi - pi0) / pi0``, whose terms are each >= 0 and carry no
    cancellation when ``pi`` is close to ``pi0`` (large ``alpha``). ``+inf`` at a
    state where ``pi`` puts mass on an action ``pi0`` never takes.
    """
    pi = as_float_array("pi", pi)  # a NaN policy must not read as a finite KL
    pi0 = as_float_array("pi0", pi0, pi.shape)
    on0 = pi0 > 0
    off_support = ((pi > 0) & ~on0).any(axis=1)
    safe0 = np.where(on0, pi0, 1.0)
    u = np.where(on0, (pi - pi0) / safe0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log1p(u) is exact near u = 0; far from it, log(pi) - log(pi0) loses nothing.
        log_ratio = np.where(np.abs(u) < 0.5, np.log1p(u), np.log(np.where(pi > 0, pi, 1.0)) - np.log(safe0))
        # at pi = 0 the term is pi0, the limit of pi log(pi / pi0) - (pi - pi0)
        terms = np.where(pi > 0, pi * log_ratio - pi0 * u, pi0)
    kl = np.maximum(np.where(on0, terms, 0.0).sum(axis=1), 0.0)
    kl[off_support] = np.inf
    return kl


@dataclass(frozen=True)
class PolicyEvaluation:
    r"""Exact figures of one policy under one supervisor (the book's ``def-visitation``).

    Attributes
    ----------
    task_return
        ``J_r(pi) = E^pi[(1 - beta) r]``, the hidden task return under supervision.
    stop_value
        ``J_I(pi) = -E^pi[beta]``, the learner's objective without the KL term.
    p_stop
        ``-J_I(pi)``: under ``terminate`` the discounted stop probability
        ``E[gamma^tau; tau < inf]``; under ``truncate`` the expected discounted
        number of stops.
    kl_cost
        ``D(pi) = E^pi[KL(pi || pi0)]`` (``inf`` off the prior's support), or
        ``None`` when no prior was given.
    occupancy
        ``d_pi = (1 - gamma) y``, see :func:`discounted_visitation`.
    unsupervised_return
        ``J_r^0(pi)``: the task return in the same MDP with ``beta = 0``.
    """

    task_return: float
    stop_value: float
    p_stop: float
    kl_cost: float | None
    occupancy: np.ndarray
    unsupervised_return: float

    def catastrophe_return(self, C: float) -> float:
        r"""``J_C(pi) = J_r(pi) - C p_stop(pi)``: each stop stands for a failure costing ``C``."""
        C = check_scalar("C", C, low=0.0)
        return self.task_return - C * self.p_stop

    def rift_objective(self, alpha: float) -> float:
        r"""``L_alpha(pi) = J_I(pi) - alpha D(pi)``."""
        alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
        if self.kl_cost is None:
            raise ValueError("kl_cost is None: evaluate_policy was called without pi0")
        return self.stop_value - alpha * self.kl_cost


def evaluate_policy(mdp: FiniteMDP, supervisor: StopSupervisor, pi, pi0=None) -> PolicyEvaluation:
    r"""All exact figures of ``pi`` (see :class:`PolicyEvaluation`), from two linear solves.

    ``J_r``, ``J_I`` and ``D`` are ``y . x_pi`` for one visitation vector ``y``
    (:func:`discounted_visitation`); ``J_r^0`` needs a second solve with ``beta = 0``.
    """
    pi = _check(mdp, supervisor, pi)  # once: the solves below trust it
    y = _visitation(mdp, supervisor, pi)
    task = float(y @ (pi * supervisor.task_reward(mdp)).sum(axis=1))
    stop_value = float(y @ (pi * supervisor.learner_reward()).sum(axis=1))
    kl_cost = None
    if pi0 is not None:
        pi0 = check_policy("pi0", pi0, mdp.n_states, mdp.n_actions)
        kl = kl_per_state(pi, pi0)
        reached = y > 0
        kl_cost = float(y[reached] @ kl[reached]) if np.isfinite(kl[reached]).all() else float("inf")
    y0 = _visitation(mdp, no_stops(mdp), pi)
    unsup = float(y0 @ (pi * mdp.r).sum(axis=1))
    return PolicyEvaluation(
        task_return=task,
        stop_value=stop_value,
        p_stop=-stop_value,
        kl_cost=kl_cost,
        occupancy=(1.0 - mdp.gamma) * y,
        unsupervised_return=unsup,
    )
