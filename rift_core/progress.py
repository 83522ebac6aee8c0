"""Progress bars: :func:`tqdm` is ``tqdm.auto``'s bar, switched off when ``TQDM_DISABLE`` is set.

tqdm reads ``TQDM_DISABLE`` for its terminal bar but not for its notebook
widget, whose ``disable`` defaults to ``False`` explicitly; the book build and
CI set the variable (``.ci/bootstrap.sh``), so that no progress widget lands on
a rendered page. Interactive sessions keep their bars.
"""

from __future__ import annotations

import os

__all__ = ["tqdm", "progress_disabled"]


def progress_disabled() -> bool:
    """``True`` when ``TQDM_DISABLE`` is set to anything but ``""``, ``0``, ``false`` or ``no``."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm(*args, **kwargs)``: ``disable=True`` forced when :func:`progress_disabled`, else the caller's
    ``disable`` (default ``False``)."""
    from tqdm.auto import tqdm as auto_tqdm

    if progress_disabled():
        kwargs["disable"] = True
    else:  # explicit: tqdm bakes TQDM_DISABLE into its defaults when first imported, and reads "0" as true
        kwargs.setdefault("disable", False)
    return auto_tqdm(*args, **kwargs)
