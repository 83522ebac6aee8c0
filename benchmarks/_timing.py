"""Shared timing helper for the benchmark scripts."""

import time

import numpy as np


def best_of(fn, repeats: int = 9) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call that compiles and faults pages in).

    Timings on these shared 2-core machines vary by up to 2x between runs; the
    minimum is the least disturbed measurement. :func:`spread` gives the median too.
    """
    return spread(fn, repeats)[0]


def spread(fn, repeats: int = 9) -> tuple[float, float]:
    """(minimum, median) wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))
