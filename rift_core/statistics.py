r"""Aggregate statistics for results over seeds: the interquartile mean and percentile-bootstrap intervals.

Following Agarwal et al. (2021, "Deep RL at the edge of the statistical
precipice"): report an aggregate with a confidence interval, and claim an
ordering only where the interval of the difference excludes zero.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_positive_int, check_scalar

__all__ = ["iqm", "bootstrap_ci"]


def iqm(values) -> float:
    r"""The interquartile mean: the mean of the middle 50% of ``values`` (25% trimmed from each end).

    With ``n`` values sorted, ``floor(n / 4)`` are dropped from each end, as
    :func:`scipy.stats.trim_mean` does with proportion 0.25.
    """
    from scipy.stats import trim_mean

    v = _check_values(values)
    return float(trim_mean(v, 0.25))


def bootstrap_ci(values, statistic=np.mean, *, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    r"""``(point, low, high)``: ``statistic(values)`` and its percentile-bootstrap interval at ``level``.

    ``n_boot`` resamples of the ``n`` values with replacement; the interval is
    their ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles. Seeded, so a
    notebook's intervals are the same on every run. For paired results pass
    the per-seed differences.
    """
    v = _check_values(values)
    level = check_scalar("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    n_boot = check_positive_int("n_boot", n_boot)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    stats = np.array([statistic(v[i]) for i in idx])
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(statistic(v)), float(low), float(high)


def _check_values(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty, expected at least one number")
    if not np.isfinite(v).all():
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"values[{i}] is {v[i]}, expected a finite number")
    return v
