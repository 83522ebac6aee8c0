"""The benchmark scripts run end to end at a smoke size (their assertions included)."""

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def test_sparse_sweep_smoke(capsys):
    import sparse_sweep

    sparse_sweep.main(["--states", "2000", "--tol", "1e-6"])
    out = capsys.readouterr().out
    assert "fraction of the streaming limit" in out and "in parallel" in out


def test_vs_quantecon_smoke(capsys):
    import vs_quantecon

    vs_quantecon.main(["--states", "2000", "--target", "1e-5"])
    out = capsys.readouterr().out
    assert "per sweep" in out and "to equal accuracy" in out


def test_batched_checks_smoke(capsys):
    import batched_checks

    batched_checks.main(["--instances", "50"])
    assert "MDPs/s" in capsys.readouterr().out


def test_neural_throughput_smoke(capsys):
    import neural_throughput

    neural_throughput.main(["--steps", "30", "--warmup", "300", "--repeats", "1", "--widths", "64"])
    out = capsys.readouterr().out
    assert "point_nav" in out and "hopper" in out and "rift_bf16/sb3" in out
