r"""Supervisor models (intervention strategies) for tabular MDPs.

Each constructor returns a :class:`~rift_core.exact.mdp.StopSupervisor`, i.e. an array
``beta[s, a]`` (probability of an e-stop when the agent commits to ``a`` in
``s``) with its stop semantics. Strategies that judge actions by the task use
the optimal advantage ``A*`` of the unsupervised MDP
(:func:`~rift_core.exact.planning.optimal_task_advantage`).

============================  ===================================================
strategy                      ``beta[s, a]``
============================  ===================================================
:func:`precise`               ``1{A*(s, a) < -delta}``
:func:`boltzmann`             ``sigmoid((-delta - A*(s, a)) / temperature)``
:func:`safety`                ``1{P(s' in N_margin(danger) | s, a) > threshold}``
:func:`noisy`                 ``(1 - fn) beta_base + fp (1 - beta_base)``
:func:`random_stops`          ``p``
:func:`anti_aligned`          ``p 1{A*(s, a) >= -delta}``
:func:`mixture`               ``(1 - w) beta_a + w beta_b``
============================  ===================================================
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import as_float_array, check_in_unit_interval, check_positive_int, check_scalar
from .mdp import FiniteMDP, Semantics, StopSupervisor
from .planning import optimal_task_advantage

__all__ = ["precise", "boltzmann", "safety", "noisy", "random_stops", "anti_aligned", "mixture", "danger_distance"]


def precise(mdp: FiniteMDP, delta: float = 0.0, semantics: Semantics = "terminate",
            advantage: np.ndarray | None = None) -> StopSupervisor:
    r"""Value-gap supervisor (RLIF-style): ``beta[s, a] = 1{A*(s, a) < -delta}``.

    Stops exactly the actions that lose more than ``delta`` of optimal task
    value. Pass a precomputed ``advantage`` to skip the planning solve.
    """
    delta = check_scalar("delta", delta, low=0.0)
    A_star = optimal_task_advantage(mdp) if advantage is None else as_float_array("advantage", advantage, mdp.r.shape)
    return StopSupervisor((A_star < -delta).astype(float), semantics, f"precise(delta={delta:g})")


def boltzmann(mdp: FiniteMDP, temperature: float, delta: float = 0.0, semantics: Semantics = "terminate",
              advantage: np.ndarray | None = None) -> StopSupervisor:
    r"""Soft value-gap supervisor: ``beta = sigmoid((-delta - A*(s, a)) / temperature)``.

    A stochastic human who is more likely to stop the worse an action is; tends
    to :func:`precise` as ``temperature -> 0`` (except where ``A* = -delta``).
    """
    temperature = check_scalar("temperature", temperature, low=0.0, low_open=True)
    delta = check_scalar("delta", delta, low=0.0)
    A_star = optimal_task_advantage(mdp) if advantage is None else as_float_array("advantage", advantage, mdp.r.shape)
    z = (-delta - A_star) / temperature
    beta = np.exp(-np.logaddexp(0.0, -z))  # sigmoid(z) without overflow
    return StopSupervisor(beta, semantics, f"boltzmann(T={temperature:g}, delta={delta:g})")


def danger_distance(mdp: FiniteMDP, danger) -> np.ndarray:
    r"""Fewest transitions from each state into the danger set (``inf`` if none).

    Computed by breadth-first search on the support graph of ``P`` (an edge
    ``s -> s'`` when ``P[s, a, s'] > 0`` for some ``a``).
    """
    S, A = mdp.n_states, mdp.n_actions
    danger = _check_states("danger", danger, S)
    P2 = mdp.transition_matrix
    # predecessor graph: pred[s'] = states with an edge into s'
    adj = sp.csr_array(P2 > 0) if sp.issparse(P2) else sp.csr_array(np.asarray(P2) > 0)
    rows = np.repeat(np.arange(S), A)
    coo = adj.tocoo()
    edges = sp.csr_array((np.ones(coo.nnz), (coo.col, rows[coo.row])), shape=(S, S))
    dist = np.full(S, np.inf)
    dist[danger] = 0
    frontier = np.zeros(S, dtype=bool)
    frontier[danger] = True
    d = 0
    while frontier.any():
        d += 1
        reached = edges[frontier].sum(axis=0) > 0
        new = np.asarray(reached).ravel() & ~np.isfinite(dist)
        dist[new] = d
        frontier = new
    return dist


def safety(mdp: FiniteMDP, danger, margin: int = 0, threshold: float = 0.0,
           semantics: Semantics = "terminate") -> StopSupervisor:
    r"""Safety supervisor: stop actions that may enter or approach a danger set.

    ``beta[s, a] = 1{ sum_{s': dist(s') <= margin} P[s, a, s'] > threshold }`` for
    ``s`` outside the danger set (once there, the damage is done and nobody
    stops), where ``dist`` is :func:`danger_distance`. ``margin = 0`` stops
    actions that can enter the set; larger margins also stop actions that come
    within ``margin`` transitions of it. Necessary for the task, not sufficient.
    """
    margin = check_positive_int("margin", margin, minimum=0)
    threshold = check_scalar("threshold", threshold, low=0.0, high=1.0, high_open=True)
    danger = _check_states("danger", danger, mdp.n_states)
    near = (danger_distance(mdp, danger) <= margin).astype(float)
    risk = mdp.expected_next(near)
    beta = (risk > threshold).astype(float)
    beta[danger] = 0.0
    return StopSupervisor(beta, semantics, f"safety(margin={margin})")


def noisy(base: StopSupervisor, fp: float, fn: float) -> StopSupervisor:
    r"""A noisy version of ``base``: ``beta = (1 - fn) beta_base + fp (1 - beta_base)``.

    Each decision of ``base`` is flipped independently: a stop is missed with
    probability ``fn`` (false negative) and a stop is pressed where ``base``
    would not with probability ``fp`` (false positive).
    """
    fp = check_scalar("fp", fp, low=0.0, high=1.0)
    fn = check_scalar("fn", fn, low=0.0, high=1.0)
    beta = (1.0 - fn) * base.beta + fp * (1.0 - base.beta)
    return StopSupervisor(beta, base.semantics, f"noisy({base.name}, fp={fp:g}, fn={fn:g})")


def random_stops(mdp: FiniteMDP, p, semantics: Semantics = "terminate") -> StopSupervisor:
    r"""Uninformative supervisor: ``beta[s, a] = p`` (RLIF's random interventions).

    ``p`` is a scalar or an ``(S, A)`` array of per-pair stop probabilities.
    """
    beta = np.broadcast_to(as_float_array("p", p), mdp.r.shape).copy() if np.ndim(p) == 0 else as_float_array("p", p, mdp.r.shape)
    check_in_unit_interval("p", beta)
    return StopSupervisor(beta, semantics, "random" if np.ndim(p) else f"random(p={float(p):g})")


def anti_aligned(mdp: FiniteMDP, p: float = 1.0, delta: float = 1e-9, semantics: Semantics = "terminate",
                 advantage: np.ndarray | None = None) -> StopSupervisor:
    r"""Stops that fall on task progress: ``beta[s, a] = p 1{A*(s, a) >= -delta}``.

    The supervisor stops (with probability ``p``) exactly the near-optimal
    actions, as a human who distrusts fast motion would (failure regime 7(c)).
    """
    p = check_scalar("p", p, low=0.0, high=1.0)
    delta = check_scalar("delta", delta, low=0.0)
    A_star = optimal_task_advantage(mdp) if advantage is None else as_float_array("advantage", advantage, mdp.r.shape)
    return StopSupervisor(p * (A_star >= -delta), semantics, f"anti_aligned(p={p:g})")


def mixture(a: StopSupervisor, b: StopSupervisor, weight: float) -> StopSupervisor:
    r"""``beta = (1 - weight) beta_a + weight beta_b``: supervisor ``b`` watches with
    probability ``weight``, supervisor ``a`` otherwise (same stop semantics required)."""
    weight = check_scalar("weight", weight, low=0.0, high=1.0)
    if a.beta.shape != b.beta.shape:
        raise ValueError(f"b.beta has shape {b.beta.shape}, expected a.beta's shape {a.beta.shape}")
    if a.semantics != b.semantics:
        raise ValueError(f"b.semantics is {b.semantics!r}, expected a.semantics {a.semantics!r}")
    return StopSupervisor((1.0 - weight) * a.beta + weight * b.beta, a.semantics,
                          f"mixture({a.name}, {b.name}, w={weight:g})")


def _check_states(name: str, states, n_states: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(states))
    if arr.dtype == bool:
        if arr.shape != (n_states,):
            raise ValueError(f"{name} mask has shape {arr.shape}, expected ({n_states},)")
        return np.flatnonzero(arr)
    if arr.size == 0:
        raise ValueError(f"{name} is empty, expected at least one state")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer state indices, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= n_states)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {int(arr[i])}, expected a state in [0, {n_states})")
    return arr.astype(int)
