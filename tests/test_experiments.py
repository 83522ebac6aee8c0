"""Experiment plumbing: configs validate, runs are seeded per cell, results are written atomically."""

import json

import pytest

from rift_core.experiments import robustness
from rift_core.provenance import provenance, read_results, write_results


@pytest.mark.parametrize("field, value, message", [
    ("seeds", 0, "seeds is 0"),
    ("episodes", -5, "episodes is -5"),
    ("alphas", (0.1, -1.0), "alphas is"),
    ("priors", ("excellent",), "priors holds 'excellent'"),
    ("supervisor_names", ("psychic",), "supervisor_names holds 'psychic'"),
])
def test_config_names_the_bad_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        robustness.RobustnessConfig(**{field: value})


def test_a_slice_reproduces_the_same_cell_of_a_larger_run():
    small = robustness.RobustnessConfig(seeds=1, priors=("mediocre",), supervisor_names=("safety",), eval_episodes=50)
    larger = robustness.RobustnessConfig(seeds=2, priors=("near-optimal", "mediocre"), supervisor_names=("random", "safety"),
                                         eval_episodes=50)
    a = robustness.run(small, progress=False)["results"]["mediocre"]["safety"]
    b = robustness.run(larger, progress=False)["results"]["mediocre"]["safety"]
    for method in small.methods:
        assert a[method]["task_return"][0] == b[method]["task_return"][0]


def test_results_are_written_atomically_with_provenance(tmp_path):
    cfg = robustness.config_dict(robustness.RobustnessConfig(seeds=3))
    payload = {"results": {"x": 1}, "provenance": provenance(cfg, ["cmd", "--flag"])}
    path = write_results(tmp_path / "sub" / "r.json", payload)
    assert read_results(path) == json.loads(json.dumps(payload))
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left behind
    prov = read_results(path)["provenance"]
    assert prov["command"] == "cmd --flag" and prov["config"]["seeds"] == 3
    assert {"git_commit", "versions", "date", "machine"} <= set(prov)
    assert "numpy" in prov["versions"]


def test_failed_write_leaves_the_old_file(tmp_path):
    path = write_results(tmp_path / "r.json", {"v": 1})
    with pytest.raises(TypeError):
        write_results(path, {"v": object()})
    assert read_results(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
