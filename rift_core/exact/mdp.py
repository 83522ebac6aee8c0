r"""Finite MDPs and the e-stop supervisor that acts on them.

Notation (the book's ``def-supervised-mdp``): ``P[s, a, s']`` transitions, ``r[s, a]`` the hidden task
reward, ``rho[s]`` the initial distribution, ``gamma`` the discount, and
``beta[s, a]`` the probability that the supervisor presses the e-stop when the
agent commits to ``a`` in ``s``.

A stop pre-empts the action. Two stop semantics are supported:

``terminate``
    With probability ``beta[s, a]`` the episode ends in an absorbing state and
    the step earns no task reward; otherwise the action executes, earns
    ``r[s, a]`` and moves by ``P[s, a, :]``. The supervised kernel is
    substochastic, ``K[s, a, s'] = (1 - beta[s, a]) P[s, a, s']``, and the
    learner's objective ``J_I = -E[sum_t gamma^t beta(s_t, a_t)]`` equals minus
    the discounted probability that the episode is ever stopped.

``truncate``
    With probability ``beta[s, a]`` the action is halted: the step earns no task
    reward, costs the learner ``-1``, and the agent stays in ``s`` and goes on.
    The kernel is stochastic, ``K[s, a, s'] = (1 - beta) P[s, a, s'] +
    beta 1{s' = s}``, and ``J_I`` is minus the expected discounted *number* of
    stops (it can exceed one in magnitude, up to ``1 / (1 - gamma)``).

Under both semantics every quantity of the book is a discounted total under
``K`` with per-step learner reward ``-beta`` and per-step task reward
``(1 - beta) r``; :meth:`StopSupervisor.expected_next` applies ``K``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .._validation import (
    as_float_array,
    check_in_unit_interval,
    check_rows_sum_to_one,
    check_scalar,
    frozen,
)

__all__ = ["SEMANTICS", "Semantics", "FiniteMDP", "StopSupervisor", "no_stops"]

Semantics = Literal["terminate", "truncate"]
SEMANTICS: tuple[str, ...] = ("terminate", "truncate")


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    r"""A finite discounted MDP ``(P, r, rho, gamma)``.

    Parameters
    ----------
    P
        Transition probabilities, either a dense array of shape ``(S, A, S)`` or
        a ``scipy.sparse`` matrix of shape ``(S * A, S)`` whose row ``s * A + a``
        is ``P[s, a, :]``. Entries lie in [0, 1] and each row sums to 1 within
        ``ROW_SUM_TOL = 1e-8``.
    r
        Task reward ``r[s, a]``, finite. Hidden from every learner; used only to
        evaluate and to build supervisors that know the task.
    rho
        Initial-state distribution, shape ``(S,)``.
    gamma
        Discount in [0, 1).
    """

    P: np.ndarray | sp.csr_array
    r: np.ndarray
    rho: np.ndarray
    gamma: float
    _P2: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        gamma = check_scalar("gamma", self.gamma, low=0.0, high=1.0, high_open=True)
        if sp.issparse(self.P):
            P2 = sp.csr_array(self.P, dtype=np.float64)
            n_rows, S = P2.shape
            r = as_float_array("r", self.r)
            if r.ndim != 2:
                raise ValueError(f"r has shape {r.shape}, expected (S, A)")
            A = r.shape[1]
            if S == 0 or A == 0:
                raise ValueError(f"r has shape {r.shape}: an MDP needs at least one state and one action")
            if (S, A) != r.shape or n_rows != S * A:
                raise ValueError(f"P has shape {P2.shape}, expected (S * A, S) = ({r.shape[0] * A}, {r.shape[0]}) from r's shape {r.shape}")
            P2.sum_duplicates()
            data = P2.data
            if not np.isfinite(data).all():
                k = int(np.flatnonzero(~np.isfinite(data))[0])
                row = int(np.searchsorted(P2.indptr, k, side="right") - 1)
                raise ValueError(f"P[{row // A}, {row % A}, {P2.indices[k]}] is {data[k]}, expected a finite number")
            bad = (data < 0) | (data > 1)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                row = int(np.searchsorted(P2.indptr, k, side="right") - 1)
                raise ValueError(f"P[{row // A}, {row % A}, {P2.indices[k]}] is {data[k]:.6g}, expected a probability in [0, 1]")
            check_rows_sum_to_one("P", np.asarray(P2.sum(axis=1)).ravel(), (S, A))
            P = P2
        else:
            P = as_float_array("P", self.P)
            if P.ndim != 3 or P.shape[0] != P.shape[2]:
                raise ValueError(f"P has shape {P.shape}, expected (S, A, S)")
            S, A = P.shape[:2]
            if S == 0 or A == 0:
                raise ValueError(f"P has shape {P.shape}: an MDP needs at least one state and one action")
            check_in_unit_interval("P", P)
            check_rows_sum_to_one("P", P.sum(axis=2).ravel(), (S, A))
            r = as_float_array("r", self.r, (S, A))
            P2 = P.reshape(S * A, S)
        rho = as_float_array("rho", self.rho, (S,))
        check_in_unit_interval("rho", rho)
        if abs(rho.sum() - 1.0) > 1e-8:
            raise ValueError(f"rho sums to {rho.sum():.6g}, expected 1")
        if not sp.issparse(P):
            # keep read-only copies: a caller mutating its arrays later must not change a validated MDP
            P = frozen(P)
            P2 = P.reshape(S * A, S)
        else:
            P = P.copy()
            P2 = P
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "r", frozen(r))
        object.__setattr__(self, "rho", frozen(rho))
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "_P2", P2)

    @property
    def n_states(self) -> int:
        """Number of states ``S``."""
        return self.r.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return self.r.shape[1]

    @property
    def is_sparse(self) -> bool:
        """Whether ``P`` is stored as a sparse ``(S * A, S)`` matrix."""
        return sp.issparse(self.P)

    @property
    def transition_matrix(self):
        """``P`` as an ``(S * A, S)`` matrix (dense view or CSR), row ``s * A + a``."""
        return self._P2

    def expected_next(self, V: np.ndarray) -> np.ndarray:
        r"""``(P V)[s, a] = sum_s' P[s, a, s'] V[s']``, shape ``(S, A)``."""
        return np.asarray(self._P2 @ V).reshape(self.n_states, self.n_actions)

    def with_reward(self, r) -> "FiniteMDP":
        """The same dynamics with another task reward."""
        return FiniteMDP(self.P, r, self.rho, self.gamma)


@dataclass(frozen=True, eq=False)
class StopSupervisor:
    r"""An e-stop model ``beta[s, a]`` with its stop semantics.

    Parameters
    ----------
    beta
        Probability of a stop when the agent commits to ``a`` in ``s``, shape
        ``(S, A)``, entries in [0, 1].
    semantics
        ``"terminate"`` (a stop ends the episode) or ``"truncate"`` (a stop
        halts the action, costs -1, and the agent continues from ``s``). See the
        module docstring for the objective each induces.
    name
        A label for tables and plots.
    """

    beta: np.ndarray
    semantics: Semantics = "terminate"
    name: str = "custom"

    def __post_init__(self) -> None:
        beta = as_float_array("beta", self.beta)
        if beta.ndim != 2:
            raise ValueError(f"beta has shape {beta.shape}, expected (S, A)")
        check_in_unit_interval("beta", beta)
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics is {self.semantics!r}, expected one of {SEMANTICS}")
        object.__setattr__(self, "beta", frozen(beta))

    def check_matches(self, mdp: FiniteMDP) -> None:
        """Raise if ``beta``'s shape differs from ``(S, A)`` of ``mdp``."""
        if self.beta.shape != (mdp.n_states, mdp.n_actions):
            raise ValueError(f"beta has shape {self.beta.shape}, expected (S, A) = {(mdp.n_states, mdp.n_actions)} of the MDP")

    def expected_next(self, mdp: FiniteMDP, V: np.ndarray) -> np.ndarray:
        r"""Apply the supervised kernel: ``(K V)[s, a]``.

        ``terminate``: ``(1 - beta[s, a]) sum_s' P[s, a, s'] V[s']``;
        ``truncate``: that plus ``beta[s, a] V[s]``.
        """
        KV = (1.0 - self.beta) * mdp.expected_next(V)
        if self.semantics == "truncate":
            KV += self.beta * V[:, None]
        return KV

    def kernel(self, mdp: FiniteMDP) -> np.ndarray:
        r"""The supervised kernel of a dense MDP as an ``(S, A, S)`` array: ``K[s, a, s'] = (1 - beta[s, a])
        P[s, a, s']``, plus ``beta[s, a]`` at ``s' = s`` under ``truncate`` (so that ``K V`` is
        :meth:`expected_next`). A sparse MDP's would be dense: use :meth:`expected_next` there."""
        self.check_matches(mdp)
        if mdp.is_sparse:
            raise ValueError("kernel builds a dense (S, A, S) array; for a sparse MDP use expected_next")
        K = (1.0 - self.beta)[:, :, None] * mdp.P
        if self.semantics == "truncate":
            S = mdp.n_states
            K[np.arange(S), :, np.arange(S)] += self.beta
        return K

    def learner_reward(self) -> np.ndarray:
        """The learner's expected per-step reward ``-beta[s, a]``."""
        return -self.beta

    def task_reward(self, mdp: FiniteMDP) -> np.ndarray:
        """The expected per-step task reward under supervision ``(1 - beta) r``."""
        return (1.0 - self.beta) * mdp.r

    def with_semantics(self, semantics: Semantics) -> "StopSupervisor":
        """The same ``beta`` under the other stop semantics."""
        return StopSupervisor(self.beta, semantics, self.name)

    def exempting(self, never_stop) -> "StopSupervisor":
        """A copy that never stops the ``(s, a)`` pairs where ``never_stop`` is True.

        Used for no-op actions: a supervisor does not press the e-stop on a robot
        standing still.
        """
        mask = np.asarray(never_stop, dtype=bool)
        if mask.shape != self.beta.shape:
            raise ValueError(f"never_stop has shape {mask.shape}, expected {self.beta.shape}")
        return StopSupervisor(np.where(mask, 0.0, self.beta), self.semantics, self.name)


def no_stops(mdp: FiniteMDP) -> StopSupervisor:
    """The supervisor that never stops (``beta = 0``): the unsupervised MDP."""
    return StopSupervisor(np.zeros((mdp.n_states, mdp.n_actions)), "terminate", "none")
