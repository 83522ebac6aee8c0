r"""Linear RIFT: a log-linear residual on top of the prior (the book's ``learning-from-stops``).

The policy class is ``pi_theta(a | s) ∝ pi0(a | s) exp(theta . phi(s, a))`` for
features ``phi`` of shape ``(S, A, d)``. :func:`linear_rift` maximises RIFT's
objective ``L_alpha(pi_theta) = J_I - alpha D`` over ``theta`` with the model
known, by *projected soft policy iteration*:

1. evaluate the current policy exactly: ``Q^pi = -beta + gamma K V^pi`` with
   ``V^pi = (I - gamma K_pi)^{-1} (-beta_pi - alpha KL(pi || pi0))``;
2. project the soft-greedy residual ``Q^pi / alpha`` onto the features,
   ``theta_proj = argmin_theta sum_s d(s) sum_a q(a|s) (theta . phibar(s, a) - Qbar(s, a) / alpha)^2``,
   with ``q = (pi + pi0) / 2`` (every action of the prior keeps weight, so none
   is lost for good) and ``phibar``, ``Qbar`` centred under ``q(.|s)`` (per-state constants do
   not change a softmax) and ``d`` the policy's occupancy, floored so every
   state keeps some weight;
3. step ``theta <- (1 - eta) theta + eta theta_proj``.

Exact soft policy iteration sets ``log pi = log pi0 + Q^pi / alpha + c(s)``;
step 2 is its best log-linear approximation, so with one-hot features
(:func:`one_hot_features`) the projection is exact and the iteration *is* soft
policy iteration: it reproduces tabular RIFT (a test checks 1e-8). With
``eta < 1`` the update is a damped (natural-gradient-like) step.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, check_policy, check_positive_int, check_scalar
from .evaluation import discounted_visitation, kl_per_state, policy_value
from .mdp import FiniteMDP, StopSupervisor
from .rift import ConvergenceWarning, soft_backup

__all__ = ["one_hot_features", "log_linear_policy", "LinearRIFT", "linear_rift", "projection_gap_bound"]


def one_hot_features(n_states: int, n_actions: int) -> np.ndarray:
    """``phi(s, a) = e_{s A + a}``, shape ``(S, A, S A)``: the tabular case of linear RIFT."""
    S, A = check_positive_int("n_states", n_states), check_positive_int("n_actions", n_actions)
    return np.eye(S * A).reshape(S, A, S * A)


def log_linear_policy(pi0: np.ndarray, features: np.ndarray, theta: np.ndarray) -> np.ndarray:
    r"""``pi_theta(a | s) = pi0(a | s) exp(theta . phi(s, a)) / Z(s)``, zero where ``pi0`` is."""
    support = pi0 > 0
    logits = np.where(support, np.log(np.where(support, pi0, 1.0)) + features @ theta, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    pi = np.exp(logits)
    return pi / pi.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LinearRIFT:
    """Result of :func:`linear_rift`: ``theta``, its policy, ``L_alpha`` per iteration, and ``gap_bound``.

    ``gap_bound`` bounds how far the final policy is from exact RIFT,
    ``0 <= L_alpha(pi_alpha) - L_alpha(policy) <= gap_bound`` (the book's
    ``prop-linear-gap``): the largest projection error ``alpha KL(pi || G(pi))``
    of one exact soft-greedy step ``G``, over ``1 - gamma``. It is 0 when the
    features can express the soft-greedy step (one-hot features, at convergence).
    """

    theta: np.ndarray
    policy: np.ndarray
    objective: np.ndarray
    iterations: int
    gap_bound: float


def linear_rift(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, features, alpha: float, *,
                step_size: float = 1.0, iterations: int = 200, tol: float = 1e-12,
                weight_floor: float = 1e-6) -> LinearRIFT:
    r"""Maximise ``L_alpha`` over log-linear residual policies by projected soft policy iteration.

    See the module docstring for the update. Stops after ``iterations`` steps or
    when ``L_alpha`` improves by less than ``tol``. ``weight_floor`` is added to
    the occupancy (relative to its maximum) so unreached states still constrain
    ``theta``.
    """
    supervisor.check_matches(mdp)
    S, A = mdp.n_states, mdp.n_actions
    pi0 = check_policy("pi0", pi0, S, A)
    phi = as_float_array("features", features)
    if phi.ndim != 3 or phi.shape[:2] != (S, A):
        raise ValueError(f"features has shape {phi.shape}, expected (S, A, d) = ({S}, {A}, d)")
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    eta = check_scalar("step_size", step_size, low=0.0, high=1.0, low_open=True)
    iterations = check_positive_int("iterations", iterations)
    tol = check_scalar("tol", tol, low=0.0, low_open=True)
    weight_floor = check_scalar("weight_floor", weight_floor, low=0.0)
    d = phi.shape[2]
    theta = np.zeros(d)
    history = []
    for it in range(1, iterations + 1):
        pi = log_linear_policy(pi0, phi, theta)
        kl = kl_per_state(pi, pi0)
        V = policy_value(mdp, supervisor, pi, supervisor.learner_reward() - alpha * kl[:, None])
        history.append(float(mdp.rho @ V))
        if it > 1 and abs(history[-1] - history[-2]) <= tol:
            break
        Q = supervisor.learner_reward() + mdp.gamma * supervisor.expected_next(mdp, V)
        occ = discounted_visitation(mdp, supervisor, pi)
        w_state = np.maximum(occ, 0.0) + weight_floor * max(occ.max(), 1e-300)
        # weigh actions by (pi + pi0) / 2: under pi alone an action pi has all but dropped gets no weight,
        # its logit can never recover, and the iteration stalls short of pi_alpha (seen at small alpha)
        q = 0.5 * (pi + pi0)
        phibar = phi - np.einsum("sa,sad->sd", q, phi)[:, None, :]
        qbar = Q - (q * Q).sum(axis=1, keepdims=True)
        w = w_state[:, None] * q  # (S, A) regression weights
        G = np.einsum("sa,sad,sae->de", w, phibar, phibar)
        b = np.einsum("sa,sad,sa->d", w, phibar, qbar / alpha)
        # the centred design is singular along directions constant in a within each state: least norm
        theta_proj = theta + np.linalg.lstsq(G, b - G @ theta, rcond=None)[0]
        theta = (1.0 - eta) * theta + eta * theta_proj
    else:
        warnings.warn(f"linear_rift stopped after iterations={iterations} without L_alpha settling to tol={tol:g}",
                      ConvergenceWarning, stacklevel=2)
    policy = log_linear_policy(pi0, phi, theta)
    return LinearRIFT(theta, policy, np.array(history), it, projection_gap_bound(mdp, supervisor, pi0, policy, alpha))


def projection_gap_bound(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, pi, alpha: float) -> float:
    r"""``max_s alpha KL(pi(.|s) || G(pi)(.|s)) / (1 - gamma)``, an upper bound on ``L_alpha(pi_alpha) - L_alpha(pi)``.

    ``G(pi) ∝ pi0 exp(Q^pi / alpha)`` is one exact soft-greedy step from ``pi``'s
    regularised values, and ``alpha KL(pi || G(pi)) = (T V^pi - V^pi)(s)`` is the
    soft Bellman residual of ``V^pi`` (the book's ``prop-linear-gap``).
    """
    pi0 = check_policy("pi0", pi0, mdp.n_states, mdp.n_actions)
    pi = check_policy("pi", pi, mdp.n_states, mdp.n_actions)
    alpha = check_scalar("alpha", alpha, low=0.0, low_open=True)
    kl = kl_per_state(pi, pi0)
    if not np.isfinite(kl).all():
        return float("inf")
    V = policy_value(mdp, supervisor, pi, supervisor.learner_reward() - alpha * kl[:, None])
    Q = supervisor.learner_reward() + mdp.gamma * supervisor.expected_next(mdp, V)
    TV = soft_backup(Q, pi0, alpha)[0]
    return float(max((TV - V).max(), 0.0) / (1.0 - mdp.gamma))
