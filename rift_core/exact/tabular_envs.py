r"""Constructed tabular MDPs: random MDPs, the cliff corridor, gridworlds.

:func:`random_mdp` and :func:`random_policy` are seeded generators for property
tests and theorem sweeps (the instance families built on them are in
:mod:`rift_core.exact.instances`). :func:`cliff_corridor` and :func:`gridworld` return a
:class:`TabularTask`: the MDP plus what a supervisor or a plot needs to know
about it (danger states, which actions are no-ops, names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_positive_int, check_scalar
from .mdp import FiniteMDP, StopSupervisor

__all__ = ["TabularTask", "random_mdp", "random_sparse_mdp", "random_policy", "cliff_corridor", "gridworld",
           "gamble_or_retry", "regret_fork"]


@dataclass(frozen=True, eq=False)
class TabularTask:
    """A constructed MDP with its labels.

    Attributes
    ----------
    mdp
        The MDP.
    danger
        States a safety supervisor protects (cliffs, hazards).
    noop
        ``(S, A)`` bool mask of pairs where the agent stands still; no
        supervisor of this project stops those (``StopSupervisor.exempting``).
    action_names, state_names
        Labels for tables and plots.
    """

    mdp: FiniteMDP
    danger: np.ndarray
    noop: np.ndarray
    action_names: tuple[str, ...]
    state_names: tuple[str, ...]


def random_mdp(n_states: int, n_actions: int, gamma: float = 0.9, seed: int | np.random.Generator = 0,
               concentration: float = 1.0, n_successors: int | None = None) -> FiniteMDP:
    r"""A random MDP: ``P[s, a, :] ~ Dirichlet(concentration)``, ``r ~ U[0, 1]``, ``rho ~ Dirichlet(1)``.

    With ``n_successors`` set, each ``P[s, a, :]`` is supported on that many
    states drawn without replacement (sparse dynamics, still stored dense).
    """
    S = check_positive_int("n_states", n_states)
    A = check_positive_int("n_actions", n_actions)
    concentration = check_scalar("concentration", concentration, low=0.0, low_open=True)
    rng = np.random.default_rng(seed)
    if n_successors is None:
        P = rng.dirichlet(np.full(S, concentration), size=(S, A))
    else:
        k = check_positive_int("n_successors", n_successors)
        if k > S:
            raise ValueError(f"n_successors is {k}, expected at most n_states = {S}")
        P = np.zeros((S, A, S))
        for s in range(S):
            for a in range(A):
                P[s, a, rng.choice(S, size=k, replace=False)] = rng.dirichlet(np.full(k, concentration))
    r = rng.uniform(size=(S, A))
    rho = rng.dirichlet(np.ones(S))
    return FiniteMDP(P, r, rho, gamma)


def random_sparse_mdp(n_states: int, n_actions: int, n_successors: int = 10, gamma: float = 0.99,
                      seed: int | np.random.Generator = 0, window: int | None = None) -> FiniteMDP:
    r"""A large random MDP stored sparse: each ``P[s, a, :]`` has ``n_successors`` entries
    (uniformly random states, with replacement, Dirichlet(1) weights), ``r ~ U[0, 1]``,
    uniform ``rho``. Built directly in CSR form, so 10^6 states fit in memory
    (about 12 bytes per transition).

    ``window``: draw each successor of ``s`` uniformly from ``s - window, ..., s + window`` (modulo
    ``n_states``) instead of from all states: local dynamics, as in a gridworld or a discretised control
    problem whose states are numbered along space, where a sweep's reads of ``V`` stay close together.
    """
    S = check_positive_int("n_states", n_states)
    A = check_positive_int("n_actions", n_actions)
    k = check_positive_int("n_successors", n_successors)
    rng = np.random.default_rng(seed)
    index_type = np.int32 if S < 2**31 else np.int64
    if window is None:
        cols = rng.integers(0, S, size=(S * A, k), dtype=index_type)
    else:
        window = check_positive_int("window", window)
        offsets = rng.integers(-window, window + 1, size=(S * A, k))
        cols = ((np.arange(S * A) // A)[:, None] + offsets) % S
        cols.sort(axis=1)
        cols = cols.astype(index_type)
    w = rng.exponential(size=(S * A, k))  # normalised exponentials are Dirichlet(1)
    w /= w.sum(axis=1, keepdims=True)
    import scipy.sparse as sp

    P = sp.csr_array((w.ravel(), cols.ravel(), np.arange(0, S * A * k + 1, k, dtype=np.int64)), shape=(S * A, S))
    return FiniteMDP(P, rng.uniform(size=(S, A)), np.full(S, 1.0 / S), gamma)


def random_policy(n_states: int, n_actions: int, seed: int | np.random.Generator = 0,
                  concentration: float = 1.0, drop: float = 0.0) -> np.ndarray:
    r"""A random policy, rows ``~ Dirichlet(concentration)``.

    With ``drop > 0`` each action is removed from a row's support with that
    probability (at least one action is always kept): priors with zeros.
    """
    S = check_positive_int("n_states", n_states)
    A = check_positive_int("n_actions", n_actions)
    drop = check_scalar("drop", drop, low=0.0, high=1.0, high_open=True)
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.full(A, check_scalar("concentration", concentration, low=0.0, low_open=True)), size=S)
    if drop > 0:
        keep = rng.uniform(size=(S, A)) >= drop
        keep[np.arange(S), rng.integers(A, size=S)] = True
        pi = np.where(keep, pi, 0.0)
        pi /= pi.sum(axis=1, keepdims=True)
    return pi


CORRIDOR_ACTIONS = ("forward", "stay", "edge")


def cliff_corridor(length: int = 8, p_fall: float = 0.3, gamma: float = 0.95,
                   goal_reward: float = 1.0, fall_reward: float = -1.0) -> TabularTask:
    r"""A corridor along a cliff, walked from cell 0 to a goal past cell ``length - 1``.

    States: cells ``0 .. length - 1``, then ``goal`` and ``cliff`` (both
    absorbing, reward 0 thereafter). Actions:

    - ``forward``: one cell on (into ``goal`` from the last cell);
    - ``stay``: a no-op;
    - ``edge``: two cells on along the cliff's edge, but falls into ``cliff``
      with probability ``p_fall``.

    Task reward, on entry: ``goal_reward`` into ``goal``, ``fall_reward`` into
    ``cliff``; ``r[s, a]`` is its expectation. The danger set is ``{cliff}``;
    ``stay`` and every action in an absorbing state are no-ops.
    """
    L = check_positive_int("length", length, minimum=2)
    p_fall = check_scalar("p_fall", p_fall, low=0.0, high=1.0)
    goal, cliff = L, L + 1
    S, A = L + 2, 3
    P = np.zeros((S, A, S))
    for x in range(L):
        P[x, 0, min(x + 1, goal)] = 1.0
        P[x, 1, x] = 1.0
        P[x, 2, min(x + 2, goal)] += 1.0 - p_fall
        P[x, 2, cliff] += p_fall
    P[goal, :, goal] = 1.0
    P[cliff, :, cliff] = 1.0
    entry = np.zeros(S)
    entry[goal], entry[cliff] = goal_reward, fall_reward
    r = np.einsum("sat,t->sa", P, entry)
    r[goal] = r[cliff] = 0.0
    rho = np.zeros(S)
    rho[0] = 1.0
    noop = np.zeros((S, A), dtype=bool)
    noop[:, 1] = True
    noop[[goal, cliff]] = True
    names = tuple(str(x) for x in range(L)) + ("goal", "cliff")
    return TabularTask(FiniteMDP(P, r, rho, gamma), np.array([cliff]), noop, CORRIDOR_ACTIONS, names)


GRID_ACTIONS = ("up", "down", "left", "right", "noop")
_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))
DEFAULT_GRID = (
    "S..H.",
    ".#...",
    "...H.",
    ".H..G",
)


def gridworld(layout: tuple[str, ...] | list[str] = DEFAULT_GRID, slip: float = 0.1, gamma: float = 0.95,
              goal_reward: float = 1.0, hazard_reward: float = -1.0) -> TabularTask:
    r"""A gridworld with hazards, a goal and a no-op.

    ``layout`` rows use ``S`` start, ``.`` floor, ``#`` wall, ``H`` hazard,
    ``G`` goal. Moves ``up/down/left/right`` go their way with probability
    ``1 - slip`` and to each perpendicular neighbour with ``slip / 2`` (a wall
    or the border keeps the agent in place); ``noop`` stays. Entering ``G``
    earns ``goal_reward`` and entering ``H`` earns ``hazard_reward``; both are
    absorbing. The danger set is the hazards; ``noop`` and every action in an
    absorbing state are no-ops.
    """
    rows = [str(row) for row in layout]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("layout rows must be non-empty and of equal length")
    slip = check_scalar("slip", slip, low=0.0, high=1.0)
    cells = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch != "#"]
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            if ch not in "S.#HG":
                raise ValueError(f"layout[{i}][{j}] is {ch!r}, expected one of 'S.#HG'")
    index = {c: k for k, c in enumerate(cells)}
    kind = {c: rows[c[0]][c[1]] for c in cells}
    starts = [index[c] for c in cells if kind[c] == "S"]
    goals = [index[c] for c in cells if kind[c] == "G"]
    if len(starts) != 1 or not goals:
        raise ValueError(f"layout needs exactly one 'S' and at least one 'G', found {len(starts)} and {len(goals)}")
    S, A = len(cells), len(GRID_ACTIONS)

    def step(c, move):
        n = (c[0] + move[0], c[1] + move[1])
        return index.get(n, index[c])

    P = np.zeros((S, A, S))
    for c in cells:
        s = index[c]
        if kind[c] in "HG":
            P[s, :, s] = 1.0
            continue
        for a, move in enumerate(_MOVES):
            if move == (0, 0):
                P[s, a, s] = 1.0
                continue
            side = (move[1], move[0])
            P[s, a, step(c, move)] += 1.0 - slip
            P[s, a, step(c, side)] += slip / 2
            P[s, a, step(c, (-side[0], -side[1]))] += slip / 2
    entry = np.array([goal_reward if kind[c] == "G" else hazard_reward if kind[c] == "H" else 0.0 for c in cells])
    r = np.einsum("sat,t->sa", P, entry)
    absorbing = np.array([kind[c] in "HG" for c in cells])
    r[absorbing] = 0.0
    rho = np.zeros(S)
    rho[starts[0]] = 1.0
    noop = np.zeros((S, A), dtype=bool)
    noop[:, GRID_ACTIONS.index("noop")] = True
    noop[absorbing] = True
    danger = np.array([index[c] for c in cells if kind[c] == "H"], dtype=int)
    names = tuple(f"({i},{j})" for i, j in cells)
    return TabularTask(FiniteMDP(P, r, rho, gamma), danger, noop, GRID_ACTIONS, names)


GAMBLE_ACTIONS = ("retry", "gamble")


def gamble_or_retry(p_bad: float = 0.3, beta_retry: float = 0.5, beta_bad: float = 0.9,
                    gamma: float = 0.9, semantics: str = "terminate") -> tuple[TabularTask, StopSupervisor]:
    r"""An MDP on which the two stop semantics disagree (see the stop-semantics chapter).

    From ``start`` the agent reaches ``done`` (absorbing, never stopped) in one of
    two ways, each earning reward 1:

    - ``retry``: stopped with probability ``beta_retry``; otherwise it reaches ``done``;
    - ``gamble``: never stopped now, but with probability ``p_bad`` it lands in
      ``bad`` (absorbing), where every action is stopped with probability ``beta_bad``.

    Under ``terminate`` a stop can happen once, so the gamble risks at most one
    stop and wins when ``gamma p_bad`` times the chance of a stop in ``bad`` is
    below ``beta_retry``; under ``truncate`` stops accumulate in ``bad`` and
    retrying wins. Returns the task and its supervisor.
    """
    p_bad = check_scalar("p_bad", p_bad, low=0.0, high=1.0)
    beta_retry = check_scalar("beta_retry", beta_retry, low=0.0, high=1.0)
    beta_bad = check_scalar("beta_bad", beta_bad, low=0.0, high=1.0)
    start, bad, done = 0, 1, 2
    P = np.zeros((3, 2, 3))
    P[start, 0, done] = 1.0
    P[start, 1, bad], P[start, 1, done] = p_bad, 1.0 - p_bad
    P[bad, :, bad] = 1.0
    P[done, :, done] = 1.0
    r = np.zeros((3, 2))
    r[start] = 1.0
    rho = np.array([1.0, 0.0, 0.0])
    beta = np.array([[beta_retry, 0.0], [beta_bad, beta_bad], [0.0, 0.0]])
    noop = np.zeros((3, 2), dtype=bool)
    noop[done] = True
    task = TabularTask(FiniteMDP(P, r, rho, gamma), np.array([bad]), noop, GAMBLE_ACTIONS, ("start", "bad", "done"))
    return task, StopSupervisor(beta, semantics, "gamble_or_retry")


def regret_fork(gamma: float = 0.9, shift: float = 0.01) -> tuple[TabularTask, np.ndarray, np.ndarray]:
    r"""The instance on which the book's regret bound (``thm-regret``) is tight.

    From ``start`` the action ``good`` leads to ``G`` (reward 1 at every later
    step) and ``bad`` to ``B`` (reward 0); both are absorbing, and nothing is
    ever stopped. The prior is uniform; the policy moves ``shift`` towards
    ``good`` at ``start`` only. Then ``J_r(pi) - J_r(pi0) = shift gamma / (1 - gamma)``
    and ``D(pi) = KL(1/2 + shift || 1/2)``, about ``2 shift^2``: the ratio of the
    change to ``R / (1 - gamma) sqrt(D / 2)`` tends to ``gamma`` as ``shift -> 0``.
    Returns the task, the prior and the policy.
    """
    gamma = check_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    shift = check_scalar("shift", shift, low=0.0, high=0.5, low_open=True, high_open=True)
    start, good, bad = 0, 1, 2
    P = np.zeros((3, 2, 3))
    P[start, 0, good], P[start, 1, bad] = 1.0, 1.0
    P[good, :, good], P[bad, :, bad] = 1.0, 1.0
    r = np.zeros((3, 2))
    r[good] = 1.0
    pi0 = np.full((3, 2), 0.5)
    pi = pi0.copy()
    pi[start] = [0.5 + shift, 0.5 - shift]
    task = TabularTask(FiniteMDP(P, r, np.array([1.0, 0.0, 0.0]), gamma), np.array([], dtype=int),
                       np.zeros((3, 2), dtype=bool), ("good", "bad"), ("start", "G", "B"))
    return task, pi0, pi
