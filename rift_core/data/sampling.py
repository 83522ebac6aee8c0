r"""E-stop trajectories: rolling out a policy under a supervisor, and the data format.

A deployment does not give the learner a model; it gives trajectories in which
some steps end in an e-stop. :func:`rollout` simulates that in a
:class:`~rift_core.exact.mdp.FiniteMDP`, seeded and vectorised over episodes, and
returns an :class:`EStopData`: one row per step with ``(s, a, stopped,
hidden task reward, s')`` and how the episode ended.

Stop semantics (see :mod:`rift_core.exact.mdp`): under ``terminate`` a stopped step
is the last of its episode (``terminal``); under ``truncate`` the agent stays
in ``s`` (``next_state == state``) and the episode goes on. Episodes are cut
at ``horizon`` steps; that cut is a time limit (``time_limit``), after which a
learner should bootstrap, not a termination.

:class:`DelayedSupervisor` (``delayed(base, k)``) makes stops late: the
decision to stop is taken on ``(s_t, a_t)`` with probability ``beta(s_t, a_t)``
but the stop arrives ``k`` steps later and pre-empts whatever action is then
being taken, so the data attribute it to the wrong step. It exists only for
sampling: no exact evaluation applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_policy, check_positive_int
from ..exact.mdp import SEMANTICS, FiniteMDP, StopSupervisor

__all__ = ["EStopData", "DelayedSupervisor", "delayed", "rollout", "apparent_stop_rates"]


@dataclass(frozen=True)
class DelayedSupervisor:
    """``base``'s stop decisions, arriving ``delay`` steps after the step that triggered them."""

    base: StopSupervisor
    delay: int

    def __post_init__(self) -> None:
        if not isinstance(self.base, StopSupervisor):
            raise TypeError(f"base must be a StopSupervisor, got {type(self.base).__name__}")
        object.__setattr__(self, "delay", check_positive_int("delay", self.delay, minimum=0))

    @property
    def semantics(self) -> str:
        return self.base.semantics

    @property
    def name(self) -> str:
        return f"delayed({self.base.name}, k={self.delay})"


def delayed(base: StopSupervisor, k: int) -> DelayedSupervisor:
    """The supervisor ``base`` with every stop arriving ``k`` steps late (sampling only)."""
    return DelayedSupervisor(base, k)


@dataclass(frozen=True, eq=False)
class EStopData:
    r"""Transitions of e-stop trajectories, one row per step (struct of arrays).

    Attributes
    ----------
    episode, state, action, next_state
        Integer arrays of equal length ``N``; rows of an episode are contiguous and in order.
    stopped
        A stop arrived at this step and pre-empted the action (learner reward -1).
    task_reward
        The hidden task reward earned (0 on a stopped step).
    terminal
        The episode ended here because of a stop (``terminate`` semantics only).
    time_limit
        The episode was cut here by the horizon: bootstrap, do not terminate.
    n_states, n_actions, semantics
        The spaces and the stop semantics the data were collected under.
    """

    episode: np.ndarray
    state: np.ndarray
    action: np.ndarray
    stopped: np.ndarray
    task_reward: np.ndarray
    next_state: np.ndarray
    terminal: np.ndarray
    time_limit: np.ndarray
    n_states: int
    n_actions: int
    semantics: str

    def __post_init__(self) -> None:
        n = np.asarray(self.state).shape
        if len(n) != 1 or n[0] == 0:
            raise ValueError(f"state has shape {n}, expected a non-empty 1-D array (the dataset is empty)")
        N = n[0]
        for name in ("episode", "state", "action", "next_state"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (N,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({N},) like state")
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
            object.__setattr__(self, name, arr.astype(np.int64))
        for name in ("stopped", "terminal", "time_limit"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (N,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({N},) like state")
            if arr.dtype != bool:
                raise TypeError(f"{name} must be boolean, got dtype {arr.dtype}")
        reward = np.asarray(self.task_reward, dtype=np.float64)
        if reward.shape != (N,):
            raise ValueError(f"task_reward has shape {reward.shape}, expected ({N},) like state")
        if not np.isfinite(reward).all():
            i = int(np.flatnonzero(~np.isfinite(reward))[0])
            raise ValueError(f"task_reward[{i}] is {reward[i]}, expected a finite number")
        object.__setattr__(self, "task_reward", reward)
        S = check_positive_int("n_states", self.n_states)
        A = check_positive_int("n_actions", self.n_actions)
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics is {self.semantics!r}, expected one of {SEMANTICS}")
        for name, high in (("state", S), ("next_state", S), ("action", A)):
            arr = getattr(self, name)
            bad = (arr < 0) | (arr >= high)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name}[{i}] is {arr[i]}, expected a value in [0, {high})")
        self._check_episodes()

    def _check_episodes(self) -> None:
        ep = self.episode
        last = np.ones(len(ep), dtype=bool)
        last[:-1] = ep[1:] != ep[:-1]
        # episodes must be contiguous: an id that reappears later is out of order
        starts = ep[np.r_[True, last[:-1]]]
        if len(np.unique(starts)) != len(starts):
            raise ValueError("episode ids are not contiguous: rows of each episode must be consecutive")
        if self.semantics == "terminate":
            bad = self.stopped != self.terminal
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"stopped[{i}] is {self.stopped[i]} but terminal[{i}] is {self.terminal[i]}: under terminate a stop ends the episode")
        elif self.terminal.any():
            i = int(np.flatnonzero(self.terminal)[0])
            raise ValueError(f"terminal[{i}] is True, but under truncate a stop never ends the episode")
        else:
            bad = self.stopped & (self.next_state != self.state)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"next_state[{i}] is {self.next_state[i]} after a stop, expected state[{i}] = {self.state[i]} under truncate")
        ends = self.terminal | self.time_limit
        early = ends & ~last
        if early.any():
            i = int(np.flatnonzero(early)[0])
            raise ValueError(f"row {i} ends episode {ep[i]} (terminal or time_limit) but the episode goes on at row {i + 1}")
        open_end = last & ~ends
        if open_end.any():
            i = int(np.flatnonzero(open_end)[0])
            raise ValueError(f"episode {ep[i]} ends at row {i} without a stop or a time limit")

    def __len__(self) -> int:
        return len(self.state)

    @property
    def n_episodes(self) -> int:
        return len(np.unique(self.episode))

    @property
    def learner_reward(self) -> np.ndarray:
        """``-1`` on a stopped step, ``0`` otherwise."""
        return -self.stopped.astype(np.float64)

    def concatenate(self, other: "EStopData") -> "EStopData":
        """Both datasets, ``other``'s episode ids shifted past this one's."""
        if (other.n_states, other.n_actions, other.semantics) != (self.n_states, self.n_actions, self.semantics):
            raise ValueError("datasets differ in n_states, n_actions or semantics")
        shift = int(self.episode.max()) + 1
        cat = lambda f: np.concatenate([getattr(self, f), getattr(other, f)])  # noqa: E731
        return EStopData(np.concatenate([self.episode, other.episode + shift]), cat("state"), cat("action"),
                         cat("stopped"), cat("task_reward"), cat("next_state"), cat("terminal"), cat("time_limit"),
                         self.n_states, self.n_actions, self.semantics)

    def discounted_returns(self, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """Per episode: discounted hidden task return and discounted number of stops."""
        ep_index = np.unique(self.episode, return_inverse=True)[1]
        first = np.r_[0, np.flatnonzero(np.diff(ep_index)) + 1]
        t = np.arange(len(self)) - np.repeat(first, np.diff(np.r_[first, len(self)]))
        disc = gamma ** t
        n_ep = ep_index.max() + 1
        return (np.bincount(ep_index, disc * self.task_reward, n_ep),
                np.bincount(ep_index, disc * self.stopped, n_ep))


def _sample_rows(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` from uniforms ``u`` (inverse CDF)."""
    idx = (u[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return np.minimum(idx, probs.shape[1] - 1)  # guard against the last cumsum being 1 - 1e-16


def _sample_csr_rows(P2, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:func:`_sample_rows` for rows of a CSR matrix, touching only their stored entries (never a dense row of
    width S): the draw is the first column whose running sum along the row reaches ``u``."""
    start = P2.indptr[rows]
    lens = P2.indptr[rows + 1] - start
    first = np.cumsum(lens) - lens  # where each row's entries begin in the gathered array
    pos = np.arange(int(lens.sum())) - np.repeat(first, lens) + np.repeat(start, lens)
    running = np.cumsum(P2.data[pos])
    base = np.repeat(np.r_[0.0, running[first[1:] - 1]], lens)  # the running sum before each row
    below = (running - base) < np.repeat(u, lens)
    k = np.minimum(np.add.reduceat(below.astype(np.int64), first), lens - 1)
    return P2.indices[start + k]


def check_estop_data(data, name: str = "data") -> EStopData:
    """Return ``data`` if it is an :class:`EStopData` (validated when built), else raise naming ``name``."""
    if not isinstance(data, EStopData):
        raise TypeError(f"{name} must be an EStopData, got {type(data).__name__}")
    return data


def rollout(mdp: FiniteMDP, supervisor: StopSupervisor | DelayedSupervisor, policy, n_episodes: int,
            horizon: int, seed: int | np.random.Generator = 0) -> EStopData:
    r"""Roll out ``policy`` for ``n_episodes`` episodes of at most ``horizon`` steps under ``supervisor``.

    Each step: draw ``a ~ policy[s]``; the supervisor decides to stop with
    probability ``beta[s, a]`` (arriving now, or ``k`` steps later for
    :func:`delayed`); a stop that arrives pre-empts the action (no task reward;
    the episode ends under ``terminate``, the agent stays put under
    ``truncate``); otherwise ``r[s, a]`` is earned and ``s' ~ P[s, a]``.
    Start states are drawn from ``rho``. Vectorised over episodes; on a sparse
    MDP each step reads only the sampled rows' stored transitions, so memory
    does not grow with the number of states.
    """
    base = supervisor.base if isinstance(supervisor, DelayedSupervisor) else supervisor
    if not isinstance(base, StopSupervisor):
        raise TypeError(f"supervisor must be a StopSupervisor or DelayedSupervisor, got {type(supervisor).__name__}")
    base.check_matches(mdp)
    delay = supervisor.delay if isinstance(supervisor, DelayedSupervisor) else 0
    S, A = mdp.n_states, mdp.n_actions
    policy = check_policy("policy", policy, S, A)
    n = check_positive_int("n_episodes", n_episodes)
    H = check_positive_int("horizon", horizon)
    rng = np.random.default_rng(seed)
    P2 = mdp.transition_matrix
    sparse = hasattr(P2, "indptr")
    # the inverse CDF of rho by bisection: the same draws as _sample_rows, without an (n, S) array
    s = np.minimum(np.searchsorted(np.cumsum(mdp.rho), rng.uniform(size=n), side="left"), S - 1)
    alive = np.ones(n, dtype=bool)
    pending = np.zeros((n, delay + 1), dtype=bool)  # pending[:, j]: a stop arrives j steps from now
    cols = {k: [] for k in ("episode", "state", "action", "stopped", "task_reward", "next_state", "terminal", "time_limit")}
    episodes = np.arange(n)
    for t in range(H):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        st = s[idx]
        a = _sample_rows(policy[st], rng.uniform(size=idx.size))
        trigger = rng.uniform(size=idx.size) < base.beta[st, a]
        pending[idx, delay] |= trigger
        arrives = pending[idx, 0].copy()
        rows = st * A + a
        u = rng.uniform(size=idx.size)
        moved = _sample_csr_rows(P2, rows, u) if sparse else _sample_rows(P2[rows], u)
        nxt = np.where(arrives, st, moved)
        reward = np.where(arrives, 0.0, mdp.r[st, a])
        terminal = arrives & (base.semantics == "terminate")
        limit = ~terminal & (t == H - 1)
        for key, val in (("episode", episodes[idx]), ("state", st), ("action", a), ("stopped", arrives),
                         ("task_reward", reward), ("next_state", nxt), ("terminal", terminal), ("time_limit", limit)):
            cols[key].append(val)
        s[idx] = nxt
        alive[idx[terminal]] = False
        pending[idx] = np.roll(pending[idx], -1, axis=1)
        pending[idx, -1] = False
    order = np.lexsort((np.concatenate([np.full(len(v), i) for i, v in enumerate(cols["episode"])]),
                        np.concatenate(cols["episode"])))
    data = {k: np.concatenate(v)[order] for k, v in cols.items()}
    return EStopData(n_states=S, n_actions=A, semantics=base.semantics, **data)


def apparent_stop_rates(mdp: FiniteMDP, supervisor: DelayedSupervisor, policy, horizon: int) -> np.ndarray:
    r"""The stop rates that data from ``policy`` under a delayed supervisor show, computed exactly.

    With delay ``k``, a stop decided on ``(s_t, a_t)`` arrives at step ``t + k``
    and is recorded against ``(s_{t+k}, a_{t+k})``. Over episodes of ``horizon``
    steps from ``rho``, the fraction of visits to ``(s, a)`` on which a stop
    arrives tends to

        beta_tilde(s, a) = sum_t P(s_t = s, a_t = a, running, a stop arrives at t)
                           / sum_t P(s_t = s, a_t = a, running)

    (the book's ``prop-delayed``). Computed by a forward pass over the chain of
    ``(state, stops in flight)``, ``S 2^k`` states; 0 where ``(s, a)`` is never visited.
    """
    if not isinstance(supervisor, DelayedSupervisor):
        raise TypeError(f"supervisor must be a DelayedSupervisor, got {type(supervisor).__name__}")
    base, k = supervisor.base, supervisor.delay
    base.check_matches(mdp)
    S, A = mdp.n_states, mdp.n_actions
    policy = check_policy("policy", policy, S, A)
    H = check_positive_int("horizon", horizon)
    if k > 12:
        raise ValueError(f"delay is {k}; the exact pass tracks 2^delay patterns of stops in flight, at most 2^12")
    P = np.asarray(mdp.P.toarray() if hasattr(mdp.P, "toarray") else mdp.P)
    if P.ndim == 2:
        P = P.reshape(S, A, S)
    Q = 1 << k  # bit j of a pattern: a stop decided earlier arrives j steps from now
    mass = np.zeros((S, Q))
    mass[:, 0] = mdp.rho
    visits, arrivals = np.zeros((S, A)), np.zeros((S, A))
    stay = np.arange(S)
    for _ in range(H):
        joint = mass[:, None, :] * policy[:, :, None]  # (S, A, Q): where, what, which stops are in flight
        visits += joint.sum(axis=2)
        new = np.zeros((S, Q))
        for trigger in (0, 1):
            weight = joint * (base.beta if trigger else 1.0 - base.beta)[:, :, None]
            for q in range(Q):
                arrive = bool(q & 1) if k > 0 else bool(trigger)  # with no delay the decision arrives at once
                nq = (q >> 1) | (trigger << (k - 1)) if k > 0 else 0
                m = weight[:, :, q]
                if arrive:
                    arrivals += m
                    if base.semantics == "truncate":  # halted in place; under terminate the episode ends
                        np.add.at(new[:, nq], stay, m.sum(axis=1))
                else:
                    new[:, nq] += np.einsum("sa,sat->t", m, P)
        mass = new
    return np.where(visits > 0, arrivals / np.where(visits > 0, visits, 1.0), 0.0)
