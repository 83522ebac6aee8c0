"""The exact core against its own recorded outputs on 300 random instances (``tests/fixtures``), at 1e-9.

The fixture was written by ``tests/fixtures/make_exact_core_regression.py`` from a clean tree before the core's
solvers are rewritten; this test holds every rewrite (dense, CSR, batched, evaluation) to those numbers.
"""

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from rift_core.exact.rift import ConvergenceWarning

FIXTURES = Path(__file__).parent / "fixtures"


def _generator():
    spec = importlib.util.spec_from_file_location("make_exact_core_regression",
                                                  FIXTURES / "make_exact_core_regression.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded():
    with np.load(FIXTURES / "exact_core_regression.npz") as f:
        return {k: f[k] for k in f.files}


def test_fixture_was_made_by_committed_code(recorded):
    meta = json.loads(str(recorded["__meta__"]))
    assert not meta["git_dirty"] and len(meta["git_commit"]) == 40 and meta["n_instances"] == 300


def test_exact_core_reproduces_its_recorded_outputs(recorded):
    gen = _generator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # value iteration's rounding floor, as when recorded
        now = gen.outputs(gen.instances())
    assert set(now) == set(recorded) - {"__meta__"}
    worst = max((float(np.nanmax(np.abs(np.where(np.isinf(now[k]) & np.isinf(recorded[k]), 0.0, now[k] - recorded[k])),
                                 initial=0.0)), k) for k in now)
    assert worst[0] <= 1e-9, f"largest difference {worst[0]:.3g} in {worst[1]}"
