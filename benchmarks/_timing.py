"""Shared timing helper for the benchmark scripts."""

import time


def best_of(fn, repeats: int = 5) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call that compiles and faults pages in)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
