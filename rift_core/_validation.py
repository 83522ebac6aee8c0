"""Input checks shared by every public function of :mod:`rift_core`.

Each check raises :class:`ValueError` (or :class:`TypeError`) whose message names
the offending field and, where there is one, the first offending index, e.g.
``P[3, 1, :] sums to 0.97, expected 1``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Tolerance on probability rows: ``|sum - 1| <= ROW_SUM_TOL``.
ROW_SUM_TOL = 1e-8


def _index(idx) -> str:
    return ", ".join(str(int(i)) for i in np.atleast_1d(idx))


def as_float_array(name: str, x, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a float64 array, checking its shape and that it is finite."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        arr = x  # the common case, without the conversions' overhead (small problems call this per sweep)
    else:
        if np.iscomplexobj(x):
            raise TypeError(f"{name} must be real, got a complex array")
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    if not np.isfinite(arr).all():
        first = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}[{_index(first)}] is {arr[tuple(first)]}, expected a finite number")
    return arr


def frozen(arr: np.ndarray) -> np.ndarray:
    """A read-only copy of ``arr``: an object that validated its arrays keeps them valid."""
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out


def check_in_unit_interval(name: str, arr: np.ndarray) -> None:
    """Raise if any entry of ``arr`` lies outside [0, 1]."""
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        first = np.argwhere((arr < 0.0) | (arr > 1.0))[0]
        raise ValueError(f"{name}[{_index(first)}] is {arr[tuple(first)]:.6g}, expected a probability in [0, 1]")


def check_rows_sum_to_one(name: str, sums: np.ndarray, row_shape: tuple[int, ...]) -> None:
    """Raise if a probability row does not sum to 1 within :data:`ROW_SUM_TOL`.

    ``sums`` is flat over rows; ``row_shape`` unflattens the first bad row's index.
    """
    bad = np.abs(sums - 1.0) > ROW_SUM_TOL
    if bad.any():
        flat = int(np.flatnonzero(bad)[0])
        idx = np.unravel_index(flat, row_shape)
        raise ValueError(f"{name}[{_index(idx)}, :] sums to {sums[flat]:.6g}, expected 1 (tolerance {ROW_SUM_TOL:g})")


def check_policy(name: str, pi, n_states: int, n_actions: int) -> np.ndarray:
    """Validate a stochastic policy ``pi[s, a]`` and return it as float64."""
    arr = as_float_array(name, pi, (n_states, n_actions))
    check_in_unit_interval(name, arr)
    check_rows_sum_to_one(name, arr.sum(axis=1), (n_states,))
    return arr


def check_scalar(name: str, x, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """Return ``x`` as a finite float inside the stated (half-)open interval."""
    if type(x) is not float and (isinstance(x, bool) or not isinstance(x, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name} is {v}, expected a finite number")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} is {v:g}, expected {'>' if low_open else '>='} {low:g}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} is {v:g}, expected {'<' if high_open else '<='} {high:g}")
    return v


def check_positive_int(name: str, x, *, minimum: int = 1) -> int:
    """Return ``x`` as an int ``>= minimum``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    if int(x) < minimum:
        raise ValueError(f"{name} is {int(x)}, expected an integer >= {minimum}")
    return int(x)
