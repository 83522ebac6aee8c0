r"""The methods RIFT is compared with (the book's robustness table), exact in the tabular case.

Every method has the signature ``method(mdp, supervisor, pi0, **options) ->
policy[s, a]`` and sees only what its definition allows: ``prior``, ``avoid``,
``finetune``, ``filter_policy`` and :func:`rift` never read the task reward
``mdp.r``; only :func:`oracle` does (it is an upper bound, not a learner).

============  ===================================================================
method        policy
============  ===================================================================
prior         ``pi0``
rift          ``argmax_pi J_I(pi) - alpha D(pi)`` (:func:`rift_core.exact.rift.solve_rift`)
avoid         ``argmax_pi E^pi[-beta + tau H(pi(.|s))]``, no prior
finetune      ``K`` steps of exact softmax policy-gradient ascent on ``J_I`` from ``pi0``
filter        ``pi ∝ pi0 (1 - beta)``, a one-step shield
oracle        ``argmax_pi J_r(pi)`` under supervision, deterministic
============  ===================================================================
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .._validation import check_policy, check_positive_int, check_scalar
from .evaluation import action_value, discounted_visitation
from .mdp import FiniteMDP, StopSupervisor
from .planning import policy_iteration
from .rift import soft_policy_iteration, solve_rift

__all__ = ["prior", "rift", "avoid", "finetune", "filter_policy", "oracle", "METHODS"]


def _prior(mdp: FiniteMDP, supervisor: StopSupervisor, pi0) -> np.ndarray:
    supervisor.check_matches(mdp)
    return check_policy("pi0", pi0, mdp.n_states, mdp.n_actions)


def prior(mdp: FiniteMDP, supervisor: StopSupervisor, pi0) -> np.ndarray:
    """The prior alone: ``pi = pi0``."""
    return _prior(mdp, supervisor, pi0).copy()


def rift(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, alpha: float = 0.1) -> np.ndarray:
    r"""RIFT's policy ``pi_alpha`` (see :func:`rift_core.exact.rift.solve_rift`)."""
    return solve_rift(mdp, supervisor, pi0, alpha).policy


def avoid(mdp: FiniteMDP, supervisor: StopSupervisor, pi0=None, temperature: float = 0.01) -> np.ndarray:
    r"""Pure intervention learning (RLIF-style): stop avoidance with an entropy bonus.

    Maximises ``E^pi[-beta + tau H(pi(.|s))]``, ``H`` the Shannon entropy and
    ``tau = temperature``, with no prior. Since ``tau H = tau log A - tau
    KL(pi || uniform)``, this is the soft Bellman problem of
    :mod:`rift_core.exact.rift` with reward ``-beta + tau log A``, uniform reference
    and strength ``tau``. ``pi0`` is accepted for a uniform signature and ignored.
    """
    supervisor.check_matches(mdp)
    temperature = check_scalar("temperature", temperature, low=0.0, low_open=True)
    A = mdp.n_actions
    uniform = np.full((mdp.n_states, A), 1.0 / A)
    x = supervisor.learner_reward() + temperature * np.log(A)
    return soft_policy_iteration(mdp, supervisor, x, uniform, temperature).policy


def finetune(mdp: FiniteMDP, supervisor: StopSupervisor, pi0, steps: int = 100,
             learning_rate: float = 1.0) -> np.ndarray:
    r"""Fine-tuning with no KL term: exact policy-gradient ascent on ``J_I`` from ``pi0``.

    Softmax logits ``theta`` start at ``log pi0`` (``-inf`` off the prior's
    support, which stays impossible) and take ``steps`` steps of

        theta[s, a] += learning_rate * y[s] pi[s, a] (Q_I^pi[s, a] - V_I^pi[s]),

    the exact gradient of ``J_I`` (``y`` the discounted visitation, ``Q_I^pi``
    the stop value of ``pi``). The prior is an initialisation only.
    """
    pi0 = _prior(mdp, supervisor, pi0)
    steps = check_positive_int("steps", steps, minimum=0)
    learning_rate = check_scalar("learning_rate", learning_rate, low=0.0, low_open=True)
    support = pi0 > 0
    theta = np.where(support, np.log(np.where(support, pi0, 1.0)), -np.inf)
    x = supervisor.learner_reward()
    pi = pi0
    for _ in range(steps):
        y = discounted_visitation(mdp, supervisor, pi)
        Q = action_value(mdp, supervisor, pi, x)
        advantage = Q - (pi * Q).sum(axis=1, keepdims=True)
        theta = np.where(support, theta + learning_rate * y[:, None] * pi * advantage, -np.inf)
        z = theta - theta.max(axis=1, keepdims=True)
        pi = np.exp(z)
        pi /= pi.sum(axis=1, keepdims=True)
    return pi


def filter_policy(mdp: FiniteMDP, supervisor: StopSupervisor, pi0) -> np.ndarray:
    r"""One-step shield: ``pi[s, a] ∝ pi0[s, a] (1 - beta[s, a])``.

    Where every action of the prior is certainly stopped (the row has zero
    mass) the filter has nothing to prefer and returns ``pi0[s]`` unchanged.
    """
    pi0 = _prior(mdp, supervisor, pi0)
    w = pi0 * (1.0 - supervisor.beta)
    mass = w.sum(axis=1, keepdims=True)
    return np.where(mass > 0, w / np.where(mass > 0, mass, 1.0), pi0)


def oracle(mdp: FiniteMDP, supervisor: StopSupervisor, pi0=None) -> np.ndarray:
    r"""Optimal for the hidden task reward under supervision: ``argmax_pi J_r(pi)``.

    Exact (policy iteration on reward ``(1 - beta) r`` with the supervised
    kernel). Reads ``mdp.r``: an upper bound, not a learner.
    """
    supervisor.check_matches(mdp)
    return policy_iteration(mdp, supervisor, supervisor.task_reward(mdp)).policy


#: Name -> method, all with the signature ``(mdp, supervisor, pi0, **options)``.
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "prior": prior,
    "rift": rift,
    "avoid": avoid,
    "finetune": finetune,
    "filter": filter_policy,
    "oracle": oracle,
}
