r"""The random instance families every theorem of the book is checked on.

:func:`random_instance` draws an MDP, a supervisor, a prior and ``alpha`` (the
book's verification chapters sweep thousands of them); :func:`adversarial_instance`
widens it to the corners a proof must survive (discount near 1, deterministic
transitions, unreachable states, far-shifted rewards, tiny prior masses, 0/1
supervisors). Both take a ``numpy`` generator, so a sweep is reproducible from
its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import supervisors
from .mdp import FiniteMDP, StopSupervisor
from .tabular_envs import random_mdp, random_policy

__all__ = ["RandomInstance", "random_instance", "adversarial_instance", "SUPERVISOR_KINDS", "ALL_SUPERVISOR_KINDS"]

#: The supervisor kinds :func:`random_instance` draws by default.
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
