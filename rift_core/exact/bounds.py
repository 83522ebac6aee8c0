r"""The right-hand sides of the book's theorems, as functions.

Each function computes one bound exactly as its theorem states it, so that the
verification notebooks and the property tests check the library's statement
of the theorem, not a copy of it. Notation: ``gamma`` the discount, ``R`` the
reward span of :func:`reward_span`, ``D`` the KL cost, ``p_stop`` the
discounted stop probability (``terminate``) or discounted stop count
(``truncate``).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_policy, check_scalar
from .evaluation import action_value, evaluate_policy
from .mdp import FiniteMDP, StopSupervisor
from .planning import policy_iteration

__all__ = [
    "reward_span",
    "regret_bound",
    "rift_regret_bound",
    "catastrophe_improvement_bound",
    "catastrophe_threshold",
    "tilt_kl_bound",
    "precise_gap_bound",
    "stop_value_perturbation_bound",
    "precise_stop_cost",
    "precise_regret_bound",
    "worst_never_stopped_gap",
    "comonotone_states",
    "task_action_value",
]


def reward_span(mdp: FiniteMDP) -> float:
    r"""``R = max(r_max, 0) - min(r_min, 0)``: the width of the smallest interval
    holding every task reward *and 0*.

    A stopped step earns 0 (the stop pre-empts the action), so under supervision
    the per-step task reward ranges over that interval; this is the ``R`` of
    Theorems 3 and 5 (``def-reward-span``: the interval must contain 0).
    """
    return float(max(mdp.r.max(), 0.0) - min(mdp.r.min(), 0.0))


def regret_bound(gamma: float, D: float, R: float) -> float:
    r"""Theorem 3 (``thm-regret``): ``|J_r(pi) - J_r(pi0)| <= R / (1 - gamma) sqrt(D / 2)``."""
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    D = check_scalar("D", D, low=0.0) if np.isfinite(D) else float("inf")
    R = check_scalar("R", R, low=0.0)
    return R / (1.0 - gamma) * np.sqrt(D / 2.0)


def rift_regret_bound(gamma: float, p_stop_prior: float, alpha: float, R: float) -> float:
    r"""Theorems 2 + 3 for RIFT: ``J_r(pi0) - J_r(pi_alpha) <= R / (1 - gamma) sqrt(p_stop(pi0) / (2 alpha))``."""
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    p_stop_prior = check_scalar("p_stop_prior", p_stop_prior, low=0.0)
    return regret_bound(gamma, p_stop_prior / alpha, R)


def catastrophe_improvement_bound(gamma: float, dI: float, alpha: float, C: float, R: float) -> float:
    r"""Theorem 5: ``J_C(pi) - J_C(pi0) >= C dI - R / (1 - gamma) sqrt(dI / (2 alpha))``,
    ``dI = J_I(pi) - J_I(pi0) >= 0``, for any ``pi`` with ``L_alpha(pi) >= L_alpha(pi0)``."""
    C = check_scalar("C", C, low=0.0)
    dI = check_scalar("dI", dI, low=0.0)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    return C * dI - regret_bound(gamma, dI / alpha, R)


def catastrophe_threshold(gamma: float, alpha: float, C: float, R: float) -> float:
    r"""Theorem 5's threshold: improvement is guaranteed once ``dI > R^2 / (2 alpha C^2 (1 - gamma)^2)``."""
    C = check_scalar("C", C, low=0.0, low_open=True)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    R = check_scalar("R", R, low=0.0)
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    return R**2 / (2.0 * alpha * C**2 * (1.0 - gamma) ** 2)


def tilt_kl_bound(visitation, Q, pi0, alpha: float) -> float:
    r"""Corollary ``cor-rift-tilt``: ``D(pi_alpha) <= sum_s y(s) sigma(s)^2 / (8 alpha^2)``.

    ``visitation`` is ``y = y_{pi_alpha}``, ``Q`` is ``Q_alpha`` and ``sigma(s)`` the
    span of ``Q[s, .]`` over the support of ``pi0[s, .]`` (the KL of an
    exponential tilt, the book's ``lem-tilt-kl``).
    """
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    Q = as_float_array("Q", Q)
    if Q.ndim != 2:
        raise ValueError(f"Q has shape {Q.shape}, expected (S, A)")
    y = as_float_array("visitation", visitation, (Q.shape[0],))
    support = check_policy("pi0", pi0, *Q.shape) > 0
    span = np.where(support, Q, -np.inf).max(axis=1) - np.where(support, Q, np.inf).min(axis=1)
    return float(y @ span**2 / (8.0 * alpha**2))


def precise_gap_bound(gamma: float, delta: float) -> float:
    r"""Theorem 6: a never-stopped policy under ``precise(delta)`` has ``J* - J_r(pi) <= delta / (1 - gamma)``."""
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    return check_scalar("delta", delta, low=0.0) / (1.0 - gamma)


def stop_value_perturbation_bound(gamma: float, semantics: str, beta_error: float, visitation_mass: float) -> float:
    r"""``prop-perturbation``: ``|J_I(pi) - J_I_hat(pi)| <= kappa ||beta - beta_hat||_inf sum_s y(s)``.

    ``kappa = 1`` under terminate and ``1 / (1 - gamma)`` under truncate;
    ``visitation_mass`` is ``sum_s y(s) <= 1 / (1 - gamma)`` under the real supervisor.
    """
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    if semantics not in ("terminate", "truncate"):
        raise ValueError(f"semantics is {semantics!r}, expected 'terminate' or 'truncate'")
    beta_error = check_scalar("beta_error", beta_error, low=0.0, high=1.0)
    visitation_mass = check_scalar("visitation_mass", visitation_mass, low=0.0)
    kappa = 1.0 if semantics == "terminate" else 1.0 / (1.0 - gamma)
    return kappa * beta_error * visitation_mass


def precise_stop_cost(mdp: FiniteMDP, semantics: str) -> float:
    r"""``c`` of ``thm-precise-robust``: ``max_s V*(s)^+`` under terminate, ``(1 - gamma) max_s V*(s)^+`` under truncate.

    ``V*`` is the optimal task value of the unsupervised MDP.
    """
    if semantics not in ("terminate", "truncate"):
        raise ValueError(f"semantics is {semantics!r}, expected 'terminate' or 'truncate'")
    free = StopSupervisor(np.zeros_like(mdp.r))
    top = max(float(policy_iteration(mdp, free, mdp.r).V.max()), 0.0)
    return top if semantics == "terminate" else (1.0 - mdp.gamma) * top


def precise_regret_bound(gamma: float, delta: float, p_stop: float, c: float) -> float:
    r"""``thm-precise-robust``: under ``precise(delta)``, ``J* - J_r(pi) <= delta / (1 - gamma) + c p_stop(pi)``."""
    p_stop = check_scalar("p_stop", p_stop, low=0.0)
    c = check_scalar("c", c, low=0.0)
    return precise_gap_bound(gamma, delta) + c * p_stop


def worst_never_stopped_gap(mdp: FiniteMDP, beta) -> float | None:
    r"""``J* - min_pi J_r(pi)`` over the policies a deterministic supervisor ``beta`` (entries 0 or 1) never stops.

    Those are exactly the policies supported on ``{a : beta[s, a] = 0}``; the
    minimum is found exactly by policy iteration on ``-r`` restricted to them,
    and ``J*`` is the unsupervised optimum. This is the left-hand side of
    Theorem 6 for its worst case. ``None`` if some state has no unstopped action.
    """
    beta = np.asarray(beta, dtype=float)
    allowed = beta == 0
    if not allowed.any(axis=1).all():
        return None
    free = StopSupervisor(np.zeros_like(beta))
    J_star = float(mdp.rho @ policy_iteration(mdp, free, mdp.r).V)
    worst = policy_iteration(mdp, free, -mdp.r, mask=allowed).policy
    return J_star - evaluate_policy(mdp, StopSupervisor(beta), worst).task_return


def task_action_value(mdp: FiniteMDP, supervisor: StopSupervisor, pi) -> np.ndarray:
    r"""``Q_r^pi[s, a] = (1 - beta) r + gamma (K V_r^pi)[s, a]``: the task value of ``pi`` under supervision."""
    return action_value(mdp, supervisor, pi, supervisor.task_reward(mdp))


def comonotone_states(Q_stop: np.ndarray, Q_task: np.ndarray, support: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    r"""Theorem 4's condition, state by state: is ``Q_task[s, .]`` a nondecreasing
    function of ``Q_stop[s, .]`` on ``support[s, .]``?

    True at ``s`` unless two supported actions ``a, b`` have
    ``Q_stop[s, a] < Q_stop[s, b] - tol`` and ``Q_task[s, a] > Q_task[s, b] + tol``.
    (Ties in ``Q_stop`` impose nothing: the proof's covariance terms vanish there.)
    """
    Q_stop = np.asarray(Q_stop, dtype=float)
    Q_task = np.asarray(Q_task, dtype=float)
    support = np.asarray(support, dtype=bool)
    both = support[:, :, None] & support[:, None, :]
    ds = Q_stop[:, :, None] - Q_stop[:, None, :]
    dt = Q_task[:, :, None] - Q_task[:, None, :]
    broken = both & (ds < -tol) & (dt > tol)
    return ~broken.any(axis=(1, 2))
