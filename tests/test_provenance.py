"""rift_core.provenance.shown_command: stored commands printed without the maker's directories."""

import pytest


def test_shown_command_shortens_absolute_paths_only():
    from rift_core.provenance import shown_command

    assert (shown_command("python -m rift_core.experiments.robustness --seeds 20 --out /tmp/sl_out/robustness.json")
            == "python -m rift_core.experiments.robustness --seeds 20 --out …/robustness.json")
    assert shown_command("sweep --root notebooks/results/mujoco / x") == "sweep --root notebooks/results/mujoco / x"
    with pytest.raises(TypeError, match="command must be a str"):
        shown_command(["python"])
