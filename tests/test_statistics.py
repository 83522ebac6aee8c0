"""Aggregate statistics over seeds: hand-computed values, the stratification invariant, coverage, bad input."""

import numpy as np
import pytest

from rift_core.statistics import bootstrap_ci, iqm, stratified_bootstrap_ci, stratified_difference_ci


def test_iqm_by_hand():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)   # mean of 3, 4, 5, 6
    assert iqm([5, 1, 4, 2, 3]) == pytest.approx(3.0)              # one dropped at each end: mean of 2, 3, 4
    assert iqm([7.0]) == 7.0


def test_a_constant_sample_has_a_zero_width_interval():
    assert bootstrap_ci([2.0] * 6) == (2.0, 2.0, 2.0)
    assert stratified_bootstrap_ci([[2.0] * 3, [2.0] * 5]) == (2.0, 2.0, 2.0)


def test_each_resample_keeps_every_stratum_at_its_size():
    """Strata of 3 zeros and 5 ones: a stratified resample always holds exactly 5 ones, so the mean is 5/8 in every
    resample (a pooled bootstrap would vary)."""
    point, low, high = stratified_bootstrap_ci([np.zeros(3), np.ones(5)], np.mean, n_boot=500)
    assert point == low == high == 0.625
    _, low, high = bootstrap_ci(np.r_[np.zeros(3), np.ones(5)], n_boot=500)
    assert low < 0.625 < high


def test_a_shifted_copy_differs_by_the_shift_in_the_point_and_near_it_in_the_interval():
    rng = np.random.default_rng(1)
    a = [rng.normal(size=5), rng.normal(size=7)]
    b = [x - 3.0 for x in a]
    point, low, high = stratified_difference_ci(a, b, np.mean)
    assert point == pytest.approx(3.0)
    assert low < 3.0 < high


def test_the_stratified_interval_covers_the_true_mean_at_about_its_level():
    """Two strata of normal runs (means 0 and 10, 10 runs each): the 90% interval of the pooled mean should cover 5 in
    roughly 90% of 200 independent experiments (percentile bootstrap undercovers a little at small n)."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        strata = [rng.normal(0, 1, 10), rng.normal(10, 1, 10)]
        _, low, high = stratified_bootstrap_ci(strata, np.mean, level=0.9, n_boot=400, seed=int(rng.integers(1e9)))
        covered += low <= 5.0 <= high
    assert 0.78 <= covered / 200 <= 0.97


@pytest.mark.parametrize("call, message", [
    (lambda: stratified_bootstrap_ci([]), "strata is empty"),
    (lambda: stratified_bootstrap_ci([[1.0], []]), r"strata\[1\]: values is empty"),
    (lambda: stratified_bootstrap_ci([[1.0, np.nan]]), r"strata\[0\]: values\[1\] is nan"),
    (lambda: stratified_difference_ci([[1.0]], [[1.0], [2.0]]), "strata_a has 1 strata and strata_b 2"),
    (lambda: stratified_bootstrap_ci([[1.0]], level=1.0), "level"),
    (lambda: bootstrap_ci([1.0, np.inf]), r"values\[1\] is inf"),
    (lambda: bootstrap_ci([1.0], n_boot=0), "n_boot"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vectorised_and_per_resample_statistics_give_the_same_interval():
    """iqm and np.mean take ``axis`` and run on all resamples at once; a plain function runs row by row: the
    same draws, so the same intervals."""
    rng = np.random.default_rng(2)
    strata = [rng.normal(size=5), rng.normal(size=6)]
    plain_iqm = lambda v: iqm(v)  # noqa: E731  (no axis: row by row)
    assert stratified_bootstrap_ci(strata, iqm, n_boot=300) == stratified_bootstrap_ci(strata, plain_iqm, n_boot=300)
    assert bootstrap_ci(strata[0], np.mean, n_boot=300) == bootstrap_ci(strata[0], lambda v: float(np.mean(v)),
                                                                        n_boot=300)
    np.testing.assert_allclose(iqm(np.array([[1, 2, 3, 4, 5, 6, 7, 100], [5, 1, 4, 2, 3, 0, 0, 0]]), axis=1),
                               [4.5, 1.5])
    with pytest.raises(ValueError, match=r"non-finite entry at index \(1, 2\)"):
        iqm(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]]), axis=1)


def test_pool_mean_averages_the_strata_statistics():
    """Strata on different scales count equally with pool='mean': zeros(3) and ones(5) give 0.5 in every resample
    (pooled by concatenation they give 0.625); and the pooled difference is the mean of the per-stratum ones."""
    assert stratified_bootstrap_ci([np.zeros(3), np.ones(5)], np.mean, pool="mean", n_boot=200) == (0.5, 0.5, 0.5)
    rng = np.random.default_rng(4)
    a = [rng.normal(100, 1, 5), rng.normal(1, 0.1, 5)]
    b = [a[0] - 10.0, a[1] - 2.0]
    point, low, high = stratified_difference_ci(a, b, np.mean, pool="mean")
    assert point == pytest.approx(6.0) and low < 6.0 < high
    with pytest.raises(ValueError, match="pool is 'sum'"):
        stratified_bootstrap_ci(a, pool="sum")


def test_bootstrap_band_is_bootstrap_ci_per_column():
    from rift_core.statistics import bootstrap_band, bootstrap_ci

    curves = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 7.0], [4.0, 1.0, 6.0]])
    band = bootstrap_band(curves, n_boot=500, seed=3)
    assert band.shape == (3, 3)
    for j in range(3):
        assert np.allclose(band[:, j], bootstrap_ci(curves[:, j], n_boot=500, seed=3))
    assert np.allclose(band[:, 1], 1.0)  # a constant column has a zero-width band
    assert np.allclose(band[0], [2.0, 1.0, 6.0])  # the point is the column mean, by hand
    with pytest.raises(ValueError, match="curves has shape"):
        bootstrap_band(np.zeros(3))
