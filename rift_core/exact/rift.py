r"""Exact RIFT: the KL-regularised soft Bellman fixed point (the book's ``thm-residual-form``).

The general problem solved here is

    maximise  E^pi[x] - alpha E^pi[KL(pi(.|s) || pi_ref(.|s))]

over stochastic policies, under the supervised kernel ``K`` of
:mod:`rift_core.exact.mdp`. Its solution is the fixed point of the soft Bellman
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
largest supported ``Q`` and ``w`` the normalised reference (and as
``c + alpha log(sum_a w_a exp((Q_a - c) / alpha))`` where that sum is at most
1/2, so a small sum keeps its digits), which keeps ``V`` accurate to rounding
relative to ``|Q|`` for every ``alpha`` from 1e-6 to 1e6; actions with
``pi_ref = 0`` stay impossible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, check_policy, check_positive_int, check_scalar
from .evaluation import discounted_solve, kl_per_state, policy_kernel
from .mdp import FiniteMDP, StopSupervisor

__all__ = ["ConvergenceWarning", "SoftSolution", "soft_backup", "spibb_backup", "contraction_modulus",
           "DenseSoftBellman", "METHODS", "operator_iteration", "soft_value_iteration", "soft_policy_iteration",
           "solve_rift"]


class ConvergenceWarning(UserWarning):
    """A solver stopped before reaching the requested tolerance: on the rounding floor or at ``max_iterations``."""


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
        Guaranteed ``||V - V*||_inf`` bound, ``kappa / (1 - kappa) ||V - V_prev||_inf`` (``kappa <= gamma`` the
        contraction modulus); one per problem, shape ``(B,)``, for a stacked batch.
    alpha
        The regularisation strength solved for.
    converged
        Whether ``error_bound <= tol`` was reached (otherwise the solver stopped early, on the rounding floor or at
        ``max_iterations``, and warned with a :class:`ConvergenceWarning`).
    """

    policy: np.ndarray
    log_policy: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    iterations: int
    error_bound: float
    alpha: float
    converged: bool = True


def soft_backup(Q: np.ndarray, pi_ref: np.ndarray, alpha: float):
    r"""One soft maximisation: ``V[s] = alpha log sum_a pi_ref[s, a] exp(Q[s, a] / alpha)``.

    Returns ``(V, pi, alpha_kl, log_pi)`` with ``pi = pi_ref exp((Q - V) / alpha)``,
    ``alpha_kl[s] = alpha KL(pi[s] || pi_ref[s]) = sum_a pi (Q - V)`` and ``log_pi``
    its logarithm computed without underflow. ``pi_ref`` rows must sum to 1
    (they are renormalised exactly here).
    """
    # actions are the last axis, so stacked (batch, S, A) arrays work too, with alpha of shape (batch, 1, 1)
    support = pi_ref > 0
    weight, off_support = _backup_weights(pi_ref)
    c, shifted, L = _log_partition(Q, weight, off_support, alpha)
    y = shifted / alpha
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


def _backup_weights(pi_ref: np.ndarray):
    """``(w, off)``: ``pi_ref`` renormalised exactly, and 0 on its support, ``-inf`` off it (added to ``Q``)."""
    return pi_ref / pi_ref.sum(axis=-1, keepdims=True), np.where(pi_ref > 0, 0.0, -np.inf)


def _log_partition(Q: np.ndarray, weight: np.ndarray, off_support: np.ndarray, alpha):
    r"""``(c, Q - c, L)`` with ``c = max_{a : pi_ref > 0} Q`` and ``L = log sum_a w e^{(Q - c) / alpha}``, so that
    the soft value is ``c + alpha L`` (``Q - c`` is ``-inf`` off the support). ``L`` is computed as
    ``log1p(t)``, ``t = sum_a w expm1(y)``: exact to rounding when every ``y`` is near 0 (large ``alpha``), where
    ``log(sum w e^y)`` would lose the digits of a sum near 1; but where the sum ``1 + t`` is at most 1/2, ``t`` is a
    difference near -1 that loses the digits of a small sum (a best action of prior weight 1e-310 whose rivals'
    terms underflow gave ``t = -1`` and ``L = -inf``), so there ``L = log(sum_a w e^y)``, a sum of positive terms."""
    Qm = Q + off_support
    c = Qm.max(axis=-1, keepdims=True)
    shifted = Qm - c  # <= 0, max 0 on the support
    y = shifted / alpha
    with np.errstate(divide="ignore"):  # t = -1 gives -inf, replaced below
        L = np.log1p((weight * np.expm1(y)).sum(axis=-1, keepdims=True))
    small = L <= -math.log(2.0)
    if small.any():
        with np.errstate(divide="ignore"):  # a row without support (unvalidated pi_ref) sums to 0, as before
            L = np.where(small, np.log((weight * np.exp(y)).sum(axis=-1, keepdims=True)), L)
    return c, shifted, L


def _soft_value(Q: np.ndarray, weight: np.ndarray, off_support: np.ndarray, alpha) -> np.ndarray:
    """``V[s] = alpha log sum_a pi_ref e^{Q / alpha}`` alone (no policy), from :func:`_backup_weights`'s arrays:
    what a value-iteration sweep needs."""
    c, _, L = _log_partition(Q, weight, off_support, alpha)
    return (c + alpha * L)[..., 0]


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


def contraction_modulus(mdp: FiniteMDP, supervisor: StopSupervisor) -> float:
    r"""``kappa = gamma max_{s,a} sum_s' K(s, a, s')``: the sup-norm modulus of the soft (and hard) Bellman operator
    (``gamma max (1 - beta)`` under ``terminate``, ``gamma`` under ``truncate``)."""
    if supervisor.semantics == "truncate":
        return mdp.gamma
    return mdp.gamma * float((1.0 - supervisor.beta).max())


def _policy_reward(pi: np.ndarray, x: np.ndarray, pi_ref: np.ndarray, alpha) -> np.ndarray:
    r"""``x_pi(s) - alpha KL(pi(.|s) || pi_ref(.|s))``, the per-state reward whose discounted value is a policy's
    objective: what every backend's ``evaluate`` solves for. Actions are the last axis (stacked ``(B, S, A)`` arrays
    work, with ``alpha`` of shape ``(B, 1)``); at ``alpha = 0`` (the hard problem) the KL term is dropped."""
    reward = (pi * x).sum(axis=-1)
    if np.all(np.asarray(alpha) == 0):
        return reward
    A = pi.shape[-1]
    kl = kl_per_state(pi.reshape(-1, A), pi_ref.reshape(-1, A)).reshape(pi.shape[:-1])
    return reward - alpha * kl


class DenseSoftBellman:
    r"""The soft Bellman operator of one problem on dense arrays, validated once: the dense backend of
    :func:`operator_iteration` (:class:`~rift_core.exact.sparse.SparseSoftBellman` is the CSR one).

    ``apply(V) -> (T V, Q, ||T V - V||_inf)`` with ``Q = x + gamma K V`` and ``T V`` its soft backup
    (module docstring); ``greedy(Q)`` is the soft-greedy policy ``pi_ref exp((Q - T V) / alpha)`` and its log;
    ``evaluate(pi, V, sweeps)`` is ``V^pi = (I - gamma K_pi)^{-1} (x_pi - alpha KL(pi || pi_ref))`` by a direct
    solve (``sweeps=None``) or ``sweeps`` applications of ``V <- x_pi - alpha KL + gamma K_pi V`` from ``V``;
    ``modulus`` is the contraction modulus ``kappa`` of the stopping rule.
    """

    def __init__(self, mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float):
        supervisor.check_matches(mdp)
        S, A = mdp.n_states, mdp.n_actions
        self.mdp, self.supervisor = mdp, supervisor
        self.x = as_float_array("x", x, (S, A))
        self.pi_ref = check_policy("pi_ref", pi_ref, S, A)
        self.alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
        self.gamma, self.shape = mdp.gamma, (S, A)
        self.modulus = contraction_modulus(mdp, supervisor)
        # what every apply needs, computed once: value iteration on a small MDP is numpy calls on tiny arrays,
        # so their number is its cost
        self._weight, self._off_support = _backup_weights(self.pi_ref)
        self._gamma_K = None if mdp.is_sparse else mdp.gamma * supervisor.kernel(mdp).reshape(S * A, S)

    def apply(self, V):
        S, A = self.shape
        V = as_float_array("V", V, (S,))
        if self._gamma_K is None:
            Q = self.x + self.gamma * self.supervisor.expected_next(self.mdp, V)
        else:
            Q = self.x + (self._gamma_K @ V).reshape(S, A)
        TV = _soft_value(Q, self._weight, self._off_support, self.alpha)
        return TV, Q, float(np.abs(TV - V).max())

    def greedy(self, Q):
        _, pi, _, log_pi = soft_backup(Q, self.pi_ref, self.alpha)
        return pi, log_pi

    def evaluate(self, pi, V, sweeps: int | None = None):
        reward = _policy_reward(pi, self.x, self.pi_ref, self.alpha)
        K = policy_kernel(self.mdp, self.supervisor, pi)
        if sweeps is None:
            return discounted_solve(self.mdp, K, reward)
        for _ in range(sweeps):
            V = reward + self.gamma * (K @ V)
        return V


METHODS = ("value_iteration", "modified_policy_iteration", "policy_iteration")


def operator_iteration(T, method: str = "policy_iteration", *, tol: float = 1e-10, max_iterations: int | None = None,
                       V0=None, evaluation_sweeps: int = 20,
                       callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
                       name: str = "operator_iteration") -> SoftSolution:
    r"""Solve ``V = T V`` for a soft Bellman operator ``T`` (:class:`DenseSoftBellman`, or
    :class:`~rift_core.exact.sparse.SparseSoftBellman`): every exact solver of the core is this loop, and so is
    every tabular fit to data (:class:`~rift_core.data.confidence.RobustSoftBellman` for the pessimistic fit,
    :class:`~rift_core.data.learning.SpibbSoftBellman` for SPIBB, ``DenseSoftBellman`` on the empirical model).

    ``T`` has ``apply(V) -> (T V, Q, ||T V - V||_inf)``, ``greedy(Q) -> (policy, log policy)``, ``modulus``,
    ``pi_ref``, ``gamma`` and ``alpha``; the policy methods also need ``evaluate(pi, V, sweeps)`` and ``x``.

    Each iteration applies ``T`` once, ``(T V_k, Q_k) = T(V_k)``, and then

    - ``value_iteration``: ``V_{k+1} = T V_k`` (from ``V0``, default 0);
    - ``modified_policy_iteration``: ``V_{k+1} = (T_{pi_k})^m T V_k`` with ``pi_k`` the soft-greedy policy of
      ``Q_k`` and ``m = evaluation_sweeps`` (from ``V0``, default ``min(x, 0) / (1 - gamma)``, where
      ``T V_0 >= V_0``, so the iterates rise monotonically to ``V*``; Puterman, *Markov Decision Processes*,
      Thm 6.5.5);
    - ``policy_iteration``: ``V_{k+1} = V^{pi_k}``, solved by ``T.evaluate`` (from ``V0``, default
      ``V^{pi_ref}``). Soft policy iteration is Newton's method on the soft Bellman equation: values rise
      monotonically, at least at value iteration's rate; a handful of iterations is observed, not proved.

    One certified stopping rule: ``T`` is a contraction with modulus ``kappa = T.modulus``, so
    ``||T V_k - V*||_inf <= kappa / (1 - kappa) ||T V_k - V_k||_inf``; the loop returns ``T V_k``, ``Q_k`` and the
    soft-greedy policy of ``Q_k`` once that bound is ``<= tol`` (``converged=True``). One rule when it cannot: on
    the rounding floor (no new low of the bound for three iterations, within a thousand times
    ``64 eps kappa / (1 - kappa) max(1, ||V||)``) or at ``max_iterations`` (default 10^6 sweeps for value iteration,
    10^5 for modified policy iteration, 10^3 for policy iteration) it returns what it has with
    ``converged=False`` and a :class:`ConvergenceWarning`. A non-finite bound raises ``FloatingPointError`` at once.

    A stacked backend (:class:`~rift_core.exact.batched.BatchedSoftBellman`) solves many problems in one loop: ``V`` has
    shape ``(B, S)``, each problem has its own modulus and bound (``error_bound`` is then an array), and the rules
    above apply to all of them at once.

    ``callback(k, V, pi)``, if given, sees every iterate: for value iteration ``T V_{k-1}`` and the soft-greedy
    policy of ``Q_{k-1}``; otherwise each evaluated policy ``pi_k`` (``pi_1 = pi_ref`` for policy iteration from
    its default start) and its value, which rise monotonically.
    """
    if method not in METHODS:
        raise ValueError(f"method is {method!r}, expected one of {METHODS}")
    # value iteration needs only the operator; the other methods also evaluate policies and start from x
    needed = ("apply", "greedy", "modulus", "pi_ref", "gamma", "alpha") + (
        () if method == "value_iteration" else ("evaluate", "x"))
    missing = [a for a in needed if not hasattr(T, a)]
    if missing:
        raise TypeError(f"T is a {type(T).__name__} without {', '.join(missing)}: expected a soft Bellman operator "
                        f"for {method} (DenseSoftBellman, SparseSoftBellman or BatchedSoftBellman)")
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    default_max = {"value_iteration": 1_000_000, "modified_policy_iteration": 100_000, "policy_iteration": 1_000}
    max_iterations = check_positive_int("max_iterations",
                                        default_max[method] if max_iterations is None else max_iterations)
    sweeps = check_positive_int("evaluation_sweeps", evaluation_sweeps, minimum=0) \
        if method == "modified_policy_iteration" else None
    shape = T.pi_ref.shape[:-1]  # (S,), or (B, S) for a stacked batch of problems (one bound each)
    factor = T.modulus / (1.0 - T.modulus)
    pi = None
    if V0 is not None:  # an array of values, or one value for every state
        V = np.full(shape, float(as_float_array("V0", V0, ()))) if np.ndim(V0) == 0 \
            else as_float_array("V0", V0, shape).copy()
    elif method == "value_iteration":
        V = np.zeros(shape)
    elif method == "modified_policy_iteration":
        start = np.minimum(T.x.min(axis=(-2, -1)), 0.0) / (1.0 - np.asarray(T.gamma))
        V = np.broadcast_to(start[..., None], shape).copy()
    else:
        pi = T.pi_ref
        V = _finite(T.evaluate(pi, None), name, 0)
    best, since_best, converged = np.inf, 0, False
    for it in range(1, max_iterations + 1):
        if pi is not None and callback is not None:
            callback(it, V, pi)
        TV, Q, d = T.apply(V)
        bound = factor * d
        # one problem: Python floats (numpy's reductions on a scalar cost more than a small MDP's sweep)
        worst = float(bound) if np.ndim(bound) == 0 else float(np.max(bound))
        if not (math.isfinite(worst) if np.ndim(bound) == 0 else np.isfinite(bound).all()):
            raise FloatingPointError(f"{name}: the error bound is {worst if np.isfinite(worst) else np.nan} at "
                                     f"iteration {it} (x too large?)")
        if callback is not None and method == "value_iteration":
            callback(it, TV, T.greedy(Q)[0])
        since_best = 0 if worst < best else since_best + 1
        best = min(best, worst)
        if worst <= tol:  # the largest bound of a batch, or the one bound
            converged = True
            break
        # on the rounding floor: no new low for three iterations, within a thousand times the floor (policy
        # iteration's residual can still fall far below the floor estimate, so reaching it alone does not stop)
        if since_best >= 3 and np.all((bound <= tol) | (bound <= 1e3 * _rounding_floor(factor, TV))):
            warnings.warn(f"{name} stopped on the rounding floor with error bound {worst:.3g} > tol={tol:g}",
                          ConvergenceWarning, stacklevel=3)
            break
        if method == "value_iteration":
            V = TV
            continue
        pi = T.greedy(Q)[0]
        V = _finite(T.evaluate(pi, TV, sweeps), name, it)
    else:
        warnings.warn(f"{name} stopped at max_iterations={max_iterations} with error bound {worst:.3g} > tol={tol:g}",
                      ConvergenceWarning, stacklevel=3)
    policy, log_policy = T.greedy(Q)
    return SoftSolution(policy, log_policy, Q, TV, it, bound if np.ndim(bound) else float(bound), T.alpha, converged)


def _rounding_floor(factor, TV: np.ndarray):
    """``64 eps kappa / (1 - kappa) max(1, ||T V||_inf)``: the error bound rounding alone can produce."""
    return 64 * np.finfo(float).eps * factor * np.maximum(1.0, np.abs(TV).max(axis=-1))


def _finite(V: np.ndarray, name: str, it: int) -> np.ndarray:
    if not np.isfinite(V).all():
        raise FloatingPointError(f"{name}: the error bound is not finite: a policy's value is not finite at iteration {it} "
                                 "(x too large?)")
    return V


def soft_value_iteration(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                         tol: float = 1e-10, max_iterations: int = 1_000_000, V0=None,
                         callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> SoftSolution:
    r"""Iterate ``V_{k+1} = T V_k`` (see the module docstring) from ``V0`` (default 0): :func:`operator_iteration`
    on :class:`DenseSoftBellman`.

    Stops when ``kappa / (1 - kappa) ||V_{k+1} - V_k||_inf <= tol`` (``kappa <= gamma`` the contraction
    modulus), which guarantees ``||V_{k+1} - V*||_inf <= tol``. Needs about
    ``log(tol (1 - gamma)) / log(gamma)`` backups; prefer
    :func:`soft_policy_iteration` for ``gamma`` near 1. ``callback(k, V_k, pi_k)``,
    if given, sees every iterate (``pi_k`` the soft-greedy policy of ``V_{k-1}``).
    """
    return operator_iteration(DenseSoftBellman(mdp, supervisor, x, pi_ref, alpha), "value_iteration", tol=tol,
                              max_iterations=max_iterations, V0=V0, callback=callback, name="soft_value_iteration")


def soft_policy_iteration(mdp: FiniteMDP, supervisor: StopSupervisor, x, pi_ref, alpha: float,
                          tol: float = 1e-10, max_iterations: int = 1_000,
                          callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> SoftSolution:
    r"""Soft policy iteration from ``pi_ref``: evaluate, then improve by the soft backup (:func:`operator_iteration`
    on :class:`DenseSoftBellman`).

    Evaluation solves ``V^pi = (I - gamma K_pi)^{-1} (x_pi - alpha KL(pi || pi_ref))``;
    improvement sets ``pi <- pi_ref exp((Q - T V^pi) / alpha)`` with
    ``Q = x + gamma K V^pi``. Values increase monotonically and converge at
    least at value iteration's rate ``gamma`` (the improved policy's value
    dominates one soft backup of the current one). Soft policy iteration is
    Newton's method on the soft Bellman equation and in practice needs a
    handful of iterations; a faster rate is observed, not proved. Stops when
    ``kappa / (1 - kappa) ||T V^pi - V^pi||_inf <= tol`` and returns ``T V^pi``.
    ``callback(k, V^{pi_k}, pi_k)``, if given, sees every evaluated policy,
    starting with ``pi_1 = pi_ref``; each has a higher objective than the last.
    """
    return operator_iteration(DenseSoftBellman(mdp, supervisor, x, pi_ref, alpha), "policy_iteration", tol=tol,
                              max_iterations=max_iterations, callback=callback, name="soft_policy_iteration")


def solve_rift(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, alpha: float, *,
               method: str = "policy_iteration", tol: float = 1e-10, **kwargs) -> SoftSolution:
    r"""RIFT's optimal policy ``pi_alpha = argmax_pi J_I(pi) - alpha D(pi)`` (Theorem 1).

    Solves the soft Bellman system with learner reward ``x = -beta`` and
    reference ``pi0``:

        Q[s, a] = -beta[s, a] + gamma (K V)[s, a]
        V[s]    = alpha log sum_a pi0[s, a] exp(Q[s, a] / alpha)
        pi_alpha[s, a] = pi0[s, a] exp((Q[s, a] - V[s]) / alpha),

    so ``rho . V = L_alpha(pi_alpha)`` to within ``error_bound``. ``method`` is
    ``"policy_iteration"`` (default; a few linear solves), ``"value_iteration"`` or
    ``"modified_policy_iteration"``; ``kwargs`` go to :func:`operator_iteration`. ``pi0`` may contain zeros.
    """
    if method not in METHODS:
        raise ValueError(f"method is {method!r}, expected one of {METHODS}")
    supervisor.check_matches(mdp)
    pi0 = check_policy("pi0", pi0, mdp.n_states, mdp.n_actions)
    T = DenseSoftBellman(mdp, supervisor, supervisor.learner_reward(), pi0, alpha)
    return operator_iteration(T, method, tol=tol, name=f"solve_rift ({method})", **kwargs)
