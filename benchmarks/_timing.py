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


def interleaved(fns: dict, repeats: int = 15) -> dict:
    """Time several callables side by side: after one untimed call of each, ``repeats`` rounds that call each once,
    in turn, so a slow spell of a noisy machine hits them all alike. Returns ``{name: array of wall times}``."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: np.array(t) for name, t in times.items()}
