"""Shared fixtures and hypothesis settings.

Hypothesis runs derandomised (a fixed example sequence) so CI is reproducible;
set HYPOTHESIS_PROFILE=explore locally to search with fresh randomness.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from rift_core import tabular_envs  # noqa: E402
from rift_core.exact.mdp import StopSupervisor  # noqa: E402


@pytest.fixture
def small_mdp():
    return tabular_envs.random_mdp(4, 3, gamma=0.9, seed=1)


@pytest.fixture
def small_supervisor(small_mdp):
    rng = np.random.default_rng(2)
    return StopSupervisor(rng.uniform(0, 0.5, size=(4, 3)))
