r"""Constructed tabular MDPs: random MDPs, the cliff corridor, gridworlds.

:func:`random_mdp` and :func:`random_policy` are seeded generators for property
tests and theorem sweeps. :func:`cliff_corridor` and :func:`gridworld` return a
:class:`TabularTask`: the MDP plus what a supervisor or a plot needs to know
about it (danger states, which actions are no-ops, names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_positive_int, check_scalar
from . import supervisors
from .mdp import FiniteMDP, StopSupervisor

__all__ = ["TabularTask", "RandomInstance", "random_mdp", "random_sparse_mdp", "random_policy", "random_instance", "adversarial_instance", "cliff_corridor", "gridworld", "gamble_or_retry",
           "regret_fork"]


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
                      seed: int | np.random.Generator = 0) -> FiniteMDP:
    r"""A large random MDP stored sparse: each ``P[s, a, :]`` has ``n_successors`` entries
    (uniformly random states, with replacement, Dirichlet(1) weights), ``r ~ U[0, 1]``,
    uniform ``rho``. Built directly in CSR form, so 10^6 states fit in memory
    (about 12 bytes per transition).
    """
    S = check_positive_int("n_states", n_states)
    A = check_positive_int("n_actions", n_actions)
    k = check_positive_int("n_successors", n_successors)
    rng = np.random.default_rng(seed)
    index_type = np.int32 if S < 2**31 else np.int64
    cols = rng.integers(0, S, size=(S * A, k), dtype=index_type)
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


SUPERVISOR_KINDS = ("uniform", "precise", "noisy", "boltzmann", "random", "safety")
#: Every kind :func:`random_instance` can draw; ``anti_aligned`` is not in the default mix.
ALL_SUPERVISOR_KINDS = SUPERVISOR_KINDS + ("anti_aligned",)


@dataclass(frozen=True, eq=False)
class RandomInstance:
    """One draw of the theorem sweeps: an MDP, a supervisor, a prior and an ``alpha``."""

    mdp: FiniteMDP
    supervisor: StopSupervisor
    pi0: np.ndarray
    alpha: float
    kind: str


def random_instance(rng: np.random.Generator, max_states: int = 8, max_actions: int = 4,
                    gammas: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99),
                    log10_alpha: tuple[float, float] = (-3.0, 2.0),
                    kinds: tuple[str, ...] = SUPERVISOR_KINDS,
                    semantics: tuple[str, ...] = ("terminate", "truncate")) -> RandomInstance:
    r"""Draw one instance of the family every theorem is checked on (the book's ``verify-residual-form``).

    ``S ~ U{2..max_states}``, ``A ~ U{2..max_actions}``, ``gamma`` from
    ``gammas``, Dirichlet transitions (concentration 0.1, 1 or 10), rewards
    ``U[0, 1]``, a Dirichlet prior with each action dropped from its support with
    probability 0.2, ``log10 alpha ~ U(log10_alpha)``, the stop semantics from
    ``semantics``, and a supervisor of a kind drawn from ``kinds``:
    ``uniform`` (``beta ~ scale U[0, 1]``), ``precise(delta)``,
    ``noisy(precise, fp, fn)``, ``boltzmann(T, delta)``, ``random(p)``, or
    ``safety`` around one random danger state (and, if asked for,
    ``anti_aligned(p)``, which stops the optimal actions).
    """
    S = int(rng.integers(2, max_states + 1))
    A = int(rng.integers(2, max_actions + 1))
    gamma = float(rng.choice(gammas))
    mdp = random_mdp(S, A, gamma=gamma, seed=rng, concentration=float(rng.choice([0.1, 1.0, 10.0])))
    sem = str(rng.choice(semantics))
    kind = str(rng.choice(kinds))
    if kind == "uniform":
        sup = StopSupervisor(float(rng.choice([0.1, 0.5, 1.0])) * rng.uniform(size=(S, A)), sem, "uniform")
    elif kind == "precise":
        sup = supervisors.precise(mdp, float(rng.uniform(0, 0.3)), sem)
    elif kind == "noisy":
        sup = supervisors.noisy(supervisors.precise(mdp, float(rng.uniform(0, 0.3)), sem),
                                fp=float(rng.uniform(0, 0.3)), fn=float(rng.uniform(0, 0.5)))
    elif kind == "boltzmann":
        sup = supervisors.boltzmann(mdp, float(10 ** rng.uniform(-2, 0)), float(rng.uniform(0, 0.2)), sem)
    elif kind == "random":
        sup = supervisors.random_stops(mdp, float(rng.uniform(0, 0.5)), sem)
    elif kind == "safety":
        sup = supervisors.safety(mdp, [int(rng.integers(S))], threshold=float(rng.uniform(0, 0.5)), semantics=sem)
    elif kind == "anti_aligned":
        sup = supervisors.anti_aligned(mdp, float(rng.uniform(0.1, 1.0)), semantics=sem)
    else:
        raise ValueError(f"kinds holds {kind!r}, expected one of {ALL_SUPERVISOR_KINDS}")
    pi0 = random_policy(S, A, seed=rng, drop=0.2)
    alpha = float(10 ** rng.uniform(*log10_alpha))
    return RandomInstance(mdp, sup, pi0, alpha, kind)


def adversarial_instance(rng: np.random.Generator, max_states: int = 8, max_actions: int = 4) -> RandomInstance:
    r"""Draw one instance of the *widened* family: the corners a theorem's proof must survive.

    On top of :func:`random_instance`'s draw (whose ``kind`` it keeps, with the
    suffix ``+adversarial``), each of these is applied independently with
    probability 1/2:

    - ``gamma`` from ``(0, 0.9, 0.99, 0.999)`` instead;
    - exactly deterministic transitions (each row one-hot);
    - the start distribution on state 0 only, so other states may be unreachable;
    - rewards shifted far from 0, by one of ``-10, 10, 100``;
    - prior masses of ``1e-8`` on some supported actions;
    - a supervisor that is 0/1 (each entry 1 with probability 0.3) or tiny (``1e-6 U[0, 1]``).
    """
    base = random_instance(rng, max_states, max_actions)
    mdp, sup, pi0 = base.mdp, base.supervisor, base.pi0.copy()
    S, A = pi0.shape
    P, r, rho, gamma = mdp.P.copy(), mdp.r.copy(), mdp.rho.copy(), mdp.gamma
    flip = lambda: bool(rng.random() < 0.5)  # noqa: E731
    if flip():
        gamma = float(rng.choice([0.0, 0.9, 0.99, 0.999]))
    if flip():
        P = np.eye(S)[rng.integers(S, size=(S, A))]
    if flip():
        rho = np.eye(S)[0]
    if flip():
        r = r + float(rng.choice([-10.0, 10.0, 100.0]))
    if flip():
        tiny = (rng.random(pi0.shape) < 0.3) & (pi0 > 0)
        pi0 = np.where(tiny, 1e-8, pi0)
        pi0 /= pi0.sum(axis=1, keepdims=True)
    beta = sup.beta
    if flip():
        beta = (rng.random((S, A)) < 0.3).astype(float) if flip() else 1e-6 * rng.random((S, A))
    return RandomInstance(FiniteMDP(P, r, rho, gamma), StopSupervisor(beta, sup.semantics, sup.name), pi0,
                          base.alpha, base.kind + "+adversarial")


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
