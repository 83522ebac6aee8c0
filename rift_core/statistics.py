r"""Aggregate statistics for results over seeds: the interquartile mean and percentile-bootstrap intervals.

Following Agarwal et al. (2021, "Deep RL at the edge of the statistical
precipice"): report an aggregate with a confidence interval, and claim an
ordering only where the interval of the difference excludes zero. With runs
from several tasks (strata), resample the runs within each task, so that every
resample keeps each task's share of the aggregate (their stratified bootstrap).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_positive_int, check_scalar

__all__ = ["iqm", "bootstrap_ci", "bootstrap_band", "stratified_bootstrap_ci", "stratified_difference_ci"]


def iqm(values, axis: int | None = None):
    r"""The interquartile mean: the mean of the middle 50% of ``values`` (25% trimmed from each end).

    With ``n`` values sorted, ``floor(n / 4)`` are dropped from each end, as
    :func:`scipy.stats.trim_mean` does with proportion 0.25. With ``axis``, the
    IQM of each slice along it (an array; the bootstrap functions pass all
    resamples at once this way).
    """
    from scipy.stats import trim_mean

    if axis is None:
        return float(trim_mean(_check_values(values), 0.25))
    v = np.asarray(values, dtype=float)
    bad = np.argwhere(~np.isfinite(v))
    if len(bad):
        raise ValueError(f"values has a non-finite entry at index {tuple(int(i) for i in bad[0])}, "
                         "expected finite numbers")
    if v.size == 0:
        raise ValueError("values is empty")
    return trim_mean(v, 0.25, axis=axis)


def _per_resample(statistic, resamples: np.ndarray) -> np.ndarray:
    """``statistic`` of each row: in one call when it takes ``axis`` (numpy reductions, :func:`iqm`)."""
    try:
        out = np.asarray(statistic(resamples, axis=1), dtype=float)
        if out.shape == (resamples.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([statistic(r) for r in resamples], dtype=float)


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
    stats = _per_resample(statistic, v[rng.integers(0, len(v), size=(n_boot, len(v)))])
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(statistic(v)), float(low), float(high)


def bootstrap_band(curves, statistic=np.mean, *, level: float = 0.95, n_boot: int = 1000,
                   seed: int = 0) -> np.ndarray:
    r"""``(3, T)`` array ``(point, low, high)``: :func:`bootstrap_ci` of each column of ``curves``.

    ``curves`` is ``(n, T)``: one row per seed (or dataset), one column per point
    of a learning curve; the result draws as a line with a band
    (``ax.plot(x, band[0]); ax.fill_between(x, band[1], band[2])``). Each column is
    resampled on its own, with the same seed.
    """
    c = np.asarray(curves, dtype=float)
    if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError(f"curves has shape {c.shape}, expected (n_seeds, n_points) with both positive")
    return np.array([bootstrap_ci(c[:, j], statistic, level=level, n_boot=n_boot, seed=seed)
                     for j in range(c.shape[1])]).T


def _check_strata(name: str, strata) -> list[np.ndarray]:
    strata = list(strata)
    if not strata:
        raise ValueError(f"{name} is empty, expected at least one stratum of runs")
    out = []
    for k, values in enumerate(strata):
        try:
            out.append(_check_values(values))
        except ValueError as e:
            raise ValueError(f"{name}[{k}]: {e}") from None
    return out


def _stratified_statistic(statistic, strata: list[np.ndarray], pool: str, n_boot: int, rng) -> tuple[float, np.ndarray]:
    """``statistic`` of the data and of ``n_boot`` stratified resamples (each stratum resampled with replacement at
    its own size), pooled by concatenating the strata or by averaging the per-stratum statistics."""
    draws = [v[rng.integers(0, len(v), size=(n_boot, len(v)))] for v in strata]
    if pool == "concatenate":
        return float(statistic(np.concatenate(strata))), _per_resample(statistic, np.concatenate(draws, axis=1))
    return (float(np.mean([statistic(v) for v in strata])),
            np.mean([_per_resample(statistic, d) for d in draws], axis=0))


def _check_pool(pool: str) -> str:
    if pool not in ("concatenate", "mean"):
        raise ValueError(f"pool is {pool!r}, expected 'concatenate' or 'mean'")
    return pool


def stratified_bootstrap_ci(strata, statistic=iqm, *, pool: str = "concatenate", level: float = 0.95,
                            n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    r"""``(point, low, high)``: ``statistic`` of the runs of all strata, with its stratified percentile-bootstrap
    interval.

    ``strata`` is a sequence of 1-D arrays, the runs of each task (or cell). A
    resample draws ``n_k`` runs with replacement from stratum ``k`` of size
    ``n_k``, for every ``k``. ``pool="concatenate"`` applies ``statistic`` to
    the concatenation (the aggregate of Agarwal et al. 2021, for scores on one
    scale); ``pool="mean"`` averages the per-stratum statistics, so that strata
    on different scales count equally. The interval is the ``(1 - level) / 2``
    and ``(1 + level) / 2`` quantiles over ``n_boot`` resamples. With one
    stratum this is :func:`bootstrap_ci`'s interval (the draws differ).
    Default statistic: the interquartile mean.
    """
    v = _check_strata("strata", strata)
    pool = _check_pool(pool)
    level = check_scalar("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    n_boot = check_positive_int("n_boot", n_boot)
    point, stats = _stratified_statistic(statistic, v, pool, n_boot, np.random.default_rng(seed))
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return point, float(low), float(high)


def stratified_difference_ci(strata_a, strata_b, statistic=iqm, *, pool: str = "concatenate", level: float = 0.95,
                             n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    r"""``(point, low, high)`` of ``statistic(a) - statistic(b)`` for two methods' runs on the same strata, each
    pooled as :func:`stratified_bootstrap_ci` pools.

    Each resample draws both methods' runs independently within each stratum
    (runs of different methods are not paired). Claim ``a > b`` only where ``low > 0``.
    """
    a, b = _check_strata("strata_a", strata_a), _check_strata("strata_b", strata_b)
    if len(a) != len(b):
        raise ValueError(f"strata_a has {len(a)} strata and strata_b {len(b)}, expected the same strata")
    pool = _check_pool(pool)
    level = check_scalar("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    n_boot = check_positive_int("n_boot", n_boot)
    rng = np.random.default_rng(seed)
    (pa, sa), (pb, sb) = _stratified_statistic(statistic, a, pool, n_boot, rng), _stratified_statistic(
        statistic, b, pool, n_boot, rng)
    low, high = np.quantile(sa - sb, [(1 - level) / 2, (1 + level) / 2])
    return pa - pb, float(low), float(high)


def _check_values(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("values is empty, expected at least one number")
    if not np.isfinite(v).all():
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"values[{i}] is {v[i]}, expected a finite number")
    return v
