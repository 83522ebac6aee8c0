"""rift_core.progress: TQDM_DISABLE switches every bar off, the notebook widget included."""

import pytest
import tqdm.auto  # noqa: F401  (imported first, as in a full run: tqdm bakes TQDM_DISABLE into its defaults)

from rift_core.progress import progress_disabled, tqdm


@pytest.mark.parametrize("value, off", [("", False), ("0", False), ("false", False), ("No", False),
                                        ("1", True), ("true", True), ("yes", True)])
def test_progress_disabled_reads_the_variable(monkeypatch, value, off):
    monkeypatch.setenv("TQDM_DISABLE", value)
    assert progress_disabled() is off
    assert tqdm(range(2)).disable is off


def test_the_notebook_bar_is_switched_off_too(monkeypatch):
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as notebook_tqdm

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert notebook_tqdm(range(2)).disable is False  # tqdm's own widget ignores the variable: why this module exists
    monkeypatch.setattr("tqdm.auto.tqdm", notebook_tqdm)
    assert tqdm(range(2)).disable is True
