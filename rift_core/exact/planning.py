r"""Hard-max planning under supervision: Howard's policy iteration.

Solves ``V*[s] = max_{a in M(s)} x[s, a] + gamma (K V*)[s, a]`` for a per-step
quantity ``x`` (task reward, or the learner's ``-beta``), the supervised kernel
``K`` of :mod:`rift_core.exact.mdp`, and an optional action mask ``M`` (for example
the support of a prior). Policy iteration terminates in finitely many steps at
the exact optimum (up to the linear solver's rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, check_positive_int
from .evaluation import policy_value
from .mdp import FiniteMDP, StopSupervisor, no_stops

__all__ = ["PlanningSolution", "policy_iteration", "optimal_task_advantage"]


@dataclass(frozen=True)
class PlanningSolution:
    """Result of :func:`policy_iteration`: a deterministic optimal policy (one-hot
    ``policy[s, a]``), its ``Q`` and ``V``, and the number of improvement steps."""

    policy: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    iterations: int


def _check_mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, expected {shape}")
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(f"mask[{int(np.flatnonzero(empty)[0])}, :] allows no action")
    return mask


def policy_iteration(mdp: FiniteMDP, supervisor: StopSupervisor, x, mask=None,
                     max_iterations: int = 10_000) -> PlanningSolution:
    r"""Exact maximiser of ``E^pi[x]`` over policies supported on ``mask``.

    Iterates ``V = (I - gamma K_pi)^{-1} x_pi``, ``Q = x + gamma K V``,
    ``pi <- argmax_{a in mask} Q`` until the greedy action stops changing. An
    action is switched only when it beats the current one by more than
    ``1e-12 (1 + |Q|)``, which keeps ties from cycling.
    """
    supervisor.check_matches(mdp)
    S, A = mdp.n_states, mdp.n_actions
    x = as_float_array("x", x, (S, A))
    mask = _check_mask(mask, (S, A))
    max_iterations = check_positive_int("max_iterations", max_iterations)
    masked = lambda Q: np.where(mask, Q, -np.inf)  # noqa: E731
    action = np.argmax(masked(x), axis=1)
    rows = np.arange(S)
    for it in range(1, max_iterations + 1):
        pi = np.zeros((S, A))
        pi[rows, action] = 1.0
        V = policy_value(mdp, supervisor, pi, x)
        Q = x + mdp.gamma * supervisor.expected_next(mdp, V)
        best = np.argmax(masked(Q), axis=1)
        gain = Q[rows, best] - Q[rows, action]
        switch = gain > 1e-12 * (1.0 + np.abs(Q[rows, action]))
        if not switch.any():
            return PlanningSolution(pi, Q, V, it)
        action = np.where(switch, best, action)
    raise RuntimeError(f"policy_iteration did not converge in max_iterations={max_iterations}")


def optimal_task_advantage(mdp: FiniteMDP) -> np.ndarray:
    r"""``A*[s, a] = Q*_r[s, a] - V*_r[s]`` of the *unsupervised* MDP (``beta = 0``).

    This is the advantage the precise, Boltzmann and anti-aligned supervisors
    judge actions by (the book's ``thm-precise``). Computed as ``Q* - max_a Q*`` (equal to
    ``Q* - V*`` at the optimum), so an optimal action's advantage is exactly 0
    and ``precise(delta=0)`` never stops it because of rounding.
    """
    sol = policy_iteration(mdp, no_stops(mdp), mdp.r)
    return sol.Q - sol.Q.max(axis=1, keepdims=True)
