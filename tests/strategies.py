"""Hypothesis strategies: random supervised MDPs with a prior (the family the book's verification chapters sweep)."""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from rift_core import tabular_envs
from rift_core.exact.mdp import FiniteMDP, StopSupervisor


@dataclass
class Instance:
    mdp: FiniteMDP
    supervisor: StopSupervisor
    pi0: np.ndarray
    alpha: float


@st.composite
def instances(draw, max_states: int = 6, max_actions: int = 4, gamma_max: float = 0.99,
              alpha_range: tuple[float, float] = (1e-3, 1e3), semantics=("terminate", "truncate")) -> Instance:
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    gamma = draw(st.floats(0.0, gamma_max))
    seed = draw(st.integers(0, 2**32 - 1))
    concentration = draw(st.sampled_from([0.1, 1.0, 10.0]))
    drop = draw(st.sampled_from([0.0, 0.0, 0.3]))
    log_alpha = draw(st.floats(np.log10(alpha_range[0]), np.log10(alpha_range[1])))
    sem = draw(st.sampled_from(semantics))
    rng = np.random.default_rng(seed)
    mdp = tabular_envs.random_mdp(S, A, gamma=gamma, seed=rng, concentration=concentration)
    scale = draw(st.sampled_from([0.05, 0.5, 1.0]))
    beta = scale * rng.uniform(size=(S, A))
    pi0 = tabular_envs.random_policy(S, A, seed=rng, drop=drop)
    return Instance(mdp, StopSupervisor(beta, sem), pi0, float(10.0**log_alpha))
