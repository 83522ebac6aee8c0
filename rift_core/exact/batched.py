r"""Many small MDPs at once: stacked arrays for the theorem sweeps.

:func:`stack` pads a list of (MDP, supervisor, prior, alpha) instances to a
common size and stacks them; :func:`solve_rift_batched` runs soft policy
iteration on all of them together (the core's one solver loop on
:class:`BatchedSoftBellman`: one batched ``numpy.linalg.solve`` per
iteration), and :func:`evaluate_batched` computes the exact figures of stacked
policies. Padding is exact: padded actions get prior probability 0 (so no
policy takes them) and padded states are absorbing, never stopped, earn
nothing and are never entered (``rho = 0`` there), so every figure at the real
states is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_policy, check_scalar
from .rift import _policy_reward, SoftSolution, operator_iteration, soft_backup
from .evaluation import kl_per_state

__all__ = ["Batch", "stack", "BatchedSoftBellman", "solve_rift_batched", "evaluate_batched", "BatchedEvaluation"]


@dataclass(frozen=True)
class Batch:
    """Stacked, padded instances: ``P (B, S, A, S)``, ``beta``, ``r``, ``pi0`` ``(B, S, A)``,
    ``rho (B, S)``, ``gamma``, ``alpha``, ``truncate`` ``(B,)``, and the true sizes."""

    P: np.ndarray
    beta: np.ndarray
    r: np.ndarray
    pi0: np.ndarray
    rho: np.ndarray
    gamma: np.ndarray
    alpha: np.ndarray
    truncate: np.ndarray
    n_states: np.ndarray
    n_actions: np.ndarray

    def __len__(self) -> int:
        return self.P.shape[0]


def stack(instances) -> Batch:
    """Pad and stack :class:`~rift_core.exact.instances.RandomInstance`-like objects (``mdp``, ``supervisor``, ``pi0``, ``alpha``)."""
    instances = list(instances)
    if not instances:
        raise ValueError("instances is empty, expected at least one")
    S = max(i.mdp.n_states for i in instances)
    A = max(i.mdp.n_actions for i in instances)
    B = len(instances)
    P = np.zeros((B, S, A, S))
    beta, r, pi0 = np.zeros((B, S, A)), np.zeros((B, S, A)), np.zeros((B, S, A))
    rho = np.zeros((B, S))
    for b, inst in enumerate(instances):
        if inst.mdp.is_sparse:
            raise ValueError(f"instances[{b}] has a sparse MDP; the batched path is for small dense ones")
        inst.supervisor.check_matches(inst.mdp)
        check_policy(f"instances[{b}].pi0", inst.pi0, inst.mdp.n_states, inst.mdp.n_actions)
        check_scalar(f"instances[{b}].alpha", inst.alpha, low=0.0, low_open=True)
        s, a = inst.mdp.n_states, inst.mdp.n_actions
        P[b, :s, :a, :s] = inst.mdp.P
        P[b, :s, a:, :] = P[b, :s, :1, :]  # padded actions copy action 0 (never taken: pi0 = 0)
        P[b, s:, :, :] = 0.0
        P[b, np.arange(s, S), :, np.arange(s, S)] = 1.0  # padded states are absorbing
        beta[b, :s, :a] = inst.supervisor.beta
        r[b, :s, :a] = inst.mdp.r
        pi0[b, :s, :a] = inst.pi0
        pi0[b, s:, 0] = 1.0
        rho[b, :s] = inst.mdp.rho
    return Batch(P, beta, r, pi0, rho,
                 np.array([i.mdp.gamma for i in instances]), np.array([float(i.alpha) for i in instances]),
                 np.array([i.supervisor.semantics == "truncate" for i in instances]),
                 np.array([i.mdp.n_states for i in instances]), np.array([i.mdp.n_actions for i in instances]))


def _kernel(batch: Batch, pi: np.ndarray) -> np.ndarray:
    """``K_pi (B, S, S)`` under each instance's stop semantics."""
    K = np.einsum("bsa,bsat->bst", pi * (1.0 - batch.beta), batch.P)
    idx = np.arange(K.shape[1])
    K[:, idx, idx] += batch.truncate[:, None] * (pi * batch.beta).sum(axis=2)
    return K


def _expected_next(batch: Batch, V: np.ndarray) -> np.ndarray:
    """``(K V)[b, s, a]`` for all instances."""
    PV = np.einsum("bsat,bt->bsa", batch.P, V)
    return (1.0 - batch.beta) * PV + batch.truncate[:, None, None] * batch.beta * V[:, :, None]


def _values(batch: Batch, K: np.ndarray, x_pi: np.ndarray) -> np.ndarray:
    I = np.eye(K.shape[1])
    return np.linalg.solve(I - batch.gamma[:, None, None] * K, x_pi[..., None])[..., 0]


class BatchedSoftBellman:
    r"""The soft Bellman operators of a stacked batch, one per instance: the stacked backend of
    :func:`~rift_core.exact.rift.operator_iteration` (values ``V`` of shape ``(B, S)``).

    Instance ``b`` has ``x = -beta_b``, ``pi_ref = pi0_b`` and its own ``gamma_b``, ``alpha_b`` and stop semantics;
    ``apply`` computes ``Q = x + gamma K V`` and the soft backup for all of them with one ``einsum``, ``evaluate``
    solves all policies' values with one batched ``numpy.linalg.solve`` (or ``sweeps`` batched sweeps), and
    ``modulus[b] = gamma_b`` (padded states are never stopped, so the padded kernel's row mass is 1).
    """

    def __init__(self, batch: Batch):
        if not isinstance(batch, Batch):
            raise TypeError(f"batch is a {type(batch).__name__}, expected a Batch (made by stack)")
        self.batch = batch
        self.x, self.pi_ref = -batch.beta, batch.pi0
        self.alpha, self.gamma, self.modulus = batch.alpha, batch.gamma, batch.gamma
        self.shape = batch.beta.shape[1:]

    def apply(self, V):
        Q = self.x + self.gamma[:, None, None] * _expected_next(self.batch, V)
        TV = soft_backup(Q, self.pi_ref, self.alpha[:, None, None])[0]
        return TV, Q, np.abs(TV - V).max(axis=1)

    def greedy(self, Q):
        _, pi, _, log_pi = soft_backup(Q, self.pi_ref, self.alpha[:, None, None])
        return pi, log_pi

    def evaluate(self, pi, V, sweeps: int | None = None):
        reward = _policy_reward(pi, self.x, self.pi_ref, self.alpha[:, None])
        K = _kernel(self.batch, pi)
        if sweeps is None:
            return _values(self.batch, K, reward)
        for _ in range(sweeps):
            V = reward + self.gamma[:, None] * np.einsum("bst,bt->bs", K, V)
        return V


def solve_rift_batched(batch: Batch, tol: float = 1e-10, max_iterations: int = 200) -> SoftSolution:
    r"""Soft policy iteration (as :func:`rift_core.exact.rift.soft_policy_iteration`) on every instance at once:
    :func:`~rift_core.exact.rift.operator_iteration` on :class:`BatchedSoftBellman`.

    Returns one :class:`~rift_core.exact.rift.SoftSolution` with stacked fields: ``policy``, ``log_policy``, ``Q``
    ``(B, S, A)``, ``V (B, S)``, ``alpha`` and ``error_bound`` ``(B,)``, each instance's bound
    ``gamma / (1 - gamma) ||T V^pi - V^pi||_inf``; it is converged when every bound is ``<= tol``.
    """
    return operator_iteration(BatchedSoftBellman(batch), "policy_iteration", tol=tol, max_iterations=max_iterations,
                              name="solve_rift_batched")


@dataclass(frozen=True)
class BatchedEvaluation:
    """Exact figures per instance ``(B,)``: ``task_return``, ``stop_value``, ``p_stop``, ``kl_cost``."""

    task_return: np.ndarray
    stop_value: np.ndarray
    p_stop: np.ndarray
    kl_cost: np.ndarray


def evaluate_batched(batch: Batch, pi: np.ndarray) -> BatchedEvaluation:
    r"""``J_r``, ``J_I``, ``p_stop`` and ``D`` (against the batch's priors) of stacked policies, from one batched solve."""
    K = _kernel(batch, pi)
    I = np.eye(K.shape[1])
    y = np.linalg.solve(np.transpose(I - batch.gamma[:, None, None] * K, (0, 2, 1)), batch.rho[..., None])[..., 0]
    task = np.einsum("bs,bs->b", y, (pi * (1.0 - batch.beta) * batch.r).sum(axis=2))
    stop = -np.einsum("bs,bs->b", y, (pi * batch.beta).sum(axis=2))
    B, S, A = pi.shape
    kl = kl_per_state(pi.reshape(B * S, A), batch.pi0.reshape(B * S, A)).reshape(B, S)
    kl = np.where(y > 0, kl, 0.0)
    return BatchedEvaluation(task, stop, -stop, np.einsum("bs,bs->b", y, kl))
