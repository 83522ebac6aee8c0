r"""Exact RIFT: the KL-regularised soft Bellman fixed point (the book's ``thm-residual-form``).

The general problem solved here is

    maximise  E^pi[x] - alpha E^pi[KL(pi(.|s) || pi_ref(.|s))]

over stochastic policies, under the supervised kernel ``K`` of
:mod:`rift_core.mdp`. Its solution is the fixed point of the soft Bellman
operator ``T``:

    Q[s, a] = x[s, a] + gamma (K V)[s, a]
    (T V)[s] = alpha log sum_a pi_ref[s, a] exp(Q[s, a] / alpha)
    pi[s, a] = pi_ref[s, a] exp((Q[s, a] - V[s]) / alpha).

``T`` is a ``gamma``-contraction in the sup norm, so for any ``V``
``||V - V*|| <= ||T V - V|| / (1 - gamma)``; every solver here stops on that
value-error guarantee and reports it.

RIFT is the case ``x = -beta`` (the learner sees only stops), ``pi_ref = pi0``:
``log pi_alpha = log pi0 + (Q - V) / alpha``, the residual being the soft
advantage of avoiding stops over ``alpha``. Entropy-regularised stop avoidance
(the ``avoid`` baseline) is the case ``pi_ref`` uniform.

Numerics: the log-sum-exp is evaluated as
``V = c + alpha log1p(sum_a w_a expm1((Q_a - c) / alpha))`` with ``c`` the
largest supported ``Q`` and ``w`` the normalised reference, which keeps ``V``
accurate to rounding relative to ``|Q|`` for every ``alpha`` from 1e-6 to 1e6;
actions with ``pi_ref = 0`` stay impossible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validation import as_float_array, check_policy, check_positive_int, check_scalar
from .evaluation import discounted_solve, policy_kernel
from .mdp import FiniteMDP, StopSupervisor

__all__ = ["ConvergenceWarning", "SoftSolution", "soft_backup", "spibb_backup", "soft_value_iteration",
           "soft_policy_iteration", "solve_rift"]


class ConvergenceWarning(UserWarning):
    """A solver stopped on the rounding floor before reaching the requested tolerance."""


@dataclass(frozen=True)
class SoftSolution:
    r"""A solved KL-regularised problem.

    Attributes
    ----------
    policy
        ``pi[s, a] = pi_ref[s, a] exp((Q[s, a] - V[s]) / alpha)``.
    log_policy
        ``log pi`` computed in log space (``-inf`` off the reference's support), exact
        where ``policy`` underflows to 0 for small ``alpha``.
    Q, V
        Soft action and state values; ``V = T V_prev`` and ``Q`` is the ``Q`` that
        produced it, so ``policy``, ``Q`` and ``V`` satisfy the residual form exactly.
    iterations
        Number of Bellman backups (value iteration) or evaluations (policy iteration).
    error_bound
        Guaranteed ``||V - V*||_inf`` bound, ``gamma / (1 - gamma) ||V - V_prev||_inf``.
    alpha
        The regularisation strength solved for.
    """

    policy: np.ndarray
    log_policy: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    iterations: int
    error_bound: float
    alpha: float


def soft_backup(Q: np.ndarray, pi_ref: np.ndarray, alpha: float):
    r"""One soft maximisation: ``V[s] = alpha log sum_a pi_ref[s, a] exp(Q[s, a] / alpha)``.

    Returns ``(V, pi, alpha_kl, log_pi)`` with ``pi = pi_ref exp((Q - V) / alpha)``,
    ``alpha_kl[s] = alpha KL(pi[s] || pi_ref[s]) = sum_a pi (Q - V)`` and ``log_pi``
    its logarithm computed without underflow. ``pi_ref`` rows must sum to 1
    (they are renormalised exactly here).
    """
    # actions are the last axis, so stacked (batch, S, A) arrays work too, with alpha of shape (batch, 1, 1)
    support = pi_ref > 0
    weight = pi_ref / pi_ref.sum(axis=-1, keepdims=True)
    c = np.where(support, Q, -np.inf).max(axis=-1, keepdims=True)
    shifted = np.where(support, Q - c, -np.inf)  # <= 0, max 0 on the support
    y = shifted / alpha
    L = np.log1p(np.sum(weight * np.expm1(y), axis=-1, keepdims=True))
    V = c + alpha * L
    with np.errstate(divide="ignore"):
        log_pi = np.where(support, np.log(weight) + y - L, -np.inf)
    pi = np.exp(log_pi)
    norm = pi.sum(axis=-1, keepdims=True)  # 1 up to rounding
    pi /= norm
    log_pi -= np.log(norm)
    gap = np.where(support, shifted - alpha * L, 0.0)  # Q - V on the support
    alpha_kl = np.maximum(np.sum(pi * gap, axis=-1), 0.0)
    return V[..., 0], pi, alpha_kl, log_pi


def spibb_backup(Q: np.ndarray, pi_ref: np.ndarray, alpha: float, bootstrapped: np.ndarray):
    r"""Soft maximisation that keeps ``pi_ref`` on the bootstrapped pairs (soft Pi_b-SPIBB).

    With ``B`` the bootstrapped pairs and ``m(s) = sum_{a not in B} pi_ref(a|s)``,

        pi(a|s) = pi_ref(a|s)                                        for a in B,
        pi(a|s) = m(s) pi_ref(a|s) exp(Q(s,a)/alpha) / Z(s)          otherwise,
        V(s)    = sum_{a in B} pi_ref Q + m(s) alpha log sum_{a not in B} (pi_ref / m) exp(Q / alpha),

    the maximiser of ``sum_a pi Q - alpha KL(pi || pi_ref)`` among policies equal to
    ``pi_ref`` on ``B``. Returns ``(V, pi)``.
    """
    free = pi_ref * ~bootstrapped
    m = free.sum(axis=1)
    has = m > 0
    # rows with no free action use pi_ref as a placeholder reference; their weight m is 0
    ref = np.where(has[:, None], free / np.where(has, m, 1.0)[:, None], pi_ref)
    V_free, pi_free, _, _ = soft_backup(Q, ref, alpha)
    kept = pi_ref * bootstrapped
    V = np.sum(kept * np.where(pi_ref > 0, Q, 0.0), axis=1) + np.where(has, m * V_free, 0.0)
    pi = kept + m[:, None] * np.where(has[:, None], pi_free, 0.0)
    return V, pi / pi.sum(axis=1, keepdims=True)  # exactly normalised: the sum of two parts can round past 1


def _prepare(mdp, supervisor, x, pi_ref, alpha, tol, max_iterations):
    supervisor.check_matches(mdp)
    S, A = mdp.n_states, mdp.n_actions
    x = as_float_array("x", x, (S, A))
    pi_ref = check_policy("pi_ref", pi_ref, S, A)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    return x, pi_ref, alpha, tol, max_iterations


def _contraction_factor(gamma: float) -> float:
    return gamma / (1.0 - gamma)


def _rounding_floor(V: np.ndarray, gamma: float) -> float:
    # A backup cannot move V by less than a few ulps of |V|; below this the
    # bound is rounding noise, not convergence error.
    return 64 * np.finfo(float).eps * max(1.0, float(np.abs(V).max())) * _contraction_factor(gamma)


def soft_value_iteration(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                         tol: float = 1e-10, max_iterations: int = 1_000_000, V0=None,
                         callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> SoftSolution:
    r"""Iterate ``V_{k+1} = T V_k`` (see the module docstring) from ``V0`` (default 0).

    Stops when ``gamma / (1 - gamma) ||V_{k+1} - V_k||_inf <= tol``, which
    guarantees ``||V_{k+1} - V*||_inf <= tol``. Needs about
    ``log(tol (1 - gamma)) / log(gamma)`` backups; prefer
    :func:`soft_policy_iteration` for ``gamma`` near 1. ``callback(k, V_k, pi_k)``,
    if given, sees every iterate (``pi_k`` the soft-greedy policy of ``V_{k-1}``).
    """
    x, pi_ref, alpha, tol, max_iterations = _prepare(mdp, supervisor, x, pi_ref, alpha, tol, max_iterations)
    V = np.zeros(mdp.n_states) if V0 is None else as_float_array("V0", V0, (mdp.n_states,))
    factor = _contraction_factor(mdp.gamma)
    for it in range(1, max_iterations + 1):
        Q = x + mdp.gamma * supervisor.expected_next(mdp, V)
        V_new, pi, _, log_pi = soft_backup(Q, pi_ref, alpha)
        bound = factor * float(np.abs(V_new - V).max())
        if not np.isfinite(bound):
            raise FloatingPointError(f"soft_value_iteration: the error bound is {bound} at sweep {it} (x too large?)")
        V = V_new
        if callback is not None:
            callback(it, V, pi)
        if bound <= tol or bound <= _rounding_floor(V, mdp.gamma):
            if bound > tol:
                warnings.warn(f"soft_value_iteration stopped on the rounding floor with error bound {bound:.3g} > tol={tol:g}", ConvergenceWarning, stacklevel=2)
            return SoftSolution(pi, log_pi, Q, V, it, bound, alpha)
    raise RuntimeError(f"soft_value_iteration did not reach tol={tol:g} in max_iterations={max_iterations} (last bound {bound:.3g})")


def soft_policy_iteration(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                          tol: float = 1e-10, max_iterations: int = 1_000,
                          callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> SoftSolution:
    r"""Soft policy iteration from ``pi_ref``: evaluate, then improve by the soft backup.

    Evaluation solves ``V^pi = (I - gamma K_pi)^{-1} (x_pi - alpha KL(pi || pi_ref))``;
    improvement sets ``pi <- pi_ref exp((Q - T V^pi) / alpha)`` with
    ``Q = x + gamma K V^pi``. Values increase monotonically and converge at
    least at value iteration's rate ``gamma`` (the improved policy's value
    dominates one soft backup of the current one). Soft policy iteration is
    Newton's method on the soft Bellman equation and in practice needs a
    handful of iterations; a faster rate is observed, not proved. Stops when
    ``gamma / (1 - gamma) ||T V^pi - V^pi||_inf <= tol`` and returns ``T V^pi``.
    ``callback(k, V^{pi_k}, pi_k)``, if given, sees every evaluated policy,
    starting with ``pi_1 = pi_ref``; each has a higher objective than the last.
    """
    x, pi_ref, alpha, tol, max_iterations = _prepare(mdp, supervisor, x, pi_ref, alpha, tol, max_iterations)
    factor = _contraction_factor(mdp.gamma)
    pi, alpha_kl = pi_ref, np.zeros(mdp.n_states)
    best = np.inf
    stalled = 0
    for it in range(1, max_iterations + 1):
        K = policy_kernel(mdp, supervisor, pi)
        V_pi = discounted_solve(mdp, K, (pi * x).sum(axis=1) - alpha_kl)
        if callback is not None:
            callback(it, V_pi, pi)
        Q = x + mdp.gamma * supervisor.expected_next(mdp, V_pi)
        V, pi, alpha_kl, log_pi = soft_backup(Q, pi_ref, alpha)
        bound = factor * float(np.abs(V - V_pi).max())
        if not np.isfinite(bound):
            raise FloatingPointError(f"soft_policy_iteration: the error bound is {bound} at iteration {it} (x too large?)")
        if bound <= tol:
            return SoftSolution(pi, log_pi, Q, V, it, bound, alpha)
        # On the rounding floor the residual stops shrinking; give up after a few such steps.
        stalled = stalled + 1 if bound > 0.5 * best else 0
        best = min(best, bound)
        if stalled >= 3 and bound <= 1e3 * _rounding_floor(V, mdp.gamma):
            warnings.warn(f"soft_policy_iteration stopped on the rounding floor with error bound {bound:.3g} > tol={tol:g}", ConvergenceWarning, stacklevel=2)
            return SoftSolution(pi, log_pi, Q, V, it, bound, alpha)
    raise RuntimeError(f"soft_policy_iteration did not reach tol={tol:g} in max_iterations={max_iterations} (last bound {bound:.3g})")


_SOLVERS = {"policy_iteration": soft_policy_iteration, "value_iteration": soft_value_iteration}


def solve_rift(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, alpha: float, *,
               method: str = "policy_iteration", tol: float = 1e-10, **kwargs) -> SoftSolution:
    r"""RIFT's optimal policy ``pi_alpha = argmax_pi J_I(pi) - alpha D(pi)`` (Theorem 1).

    Solves the soft Bellman system with learner reward ``x = -beta`` and
    reference ``pi0``:

        Q[s, a] = -beta[s, a] + gamma (K V)[s, a]
        V[s]    = alpha log sum_a pi0[s, a] exp(Q[s, a] / alpha)
        pi_alpha[s, a] = pi0[s, a] exp((Q[s, a] - V[s]) / alpha),

    so ``rho . V = L_alpha(pi_alpha)`` to within ``error_bound``. ``method`` is
    ``"policy_iteration"`` (default; a few linear solves) or
    ``"value_iteration"``. ``pi0`` may contain zeros.
    """
    if method not in _SOLVERS:
        raise ValueError(f"method is {method!r}, expected one of {tuple(_SOLVERS)}")
    supervisor.check_matches(mdp)
    pi0 = check_policy("pi0", pi0, mdp.n_states, mdp.n_actions)
    return _SOLVERS[method](mdp, supervisor, supervisor.learner_reward(), pi0, alpha, tol=tol, **kwargs)
